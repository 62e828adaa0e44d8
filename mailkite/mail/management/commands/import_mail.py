"""`manage.py import_mail --to ADDRESS [--folder INBOX|Sent] [--progress] PATH`.

PATH is an mbox file, a Maildir (cur/ and new/) or a folder of .eml files; the work is done by
`mailkite.mail.importer`, which stores messages in batches (one transaction each, the analysis in
worker processes). Re-running the same import skips what is already there, so an interrupted import
is resumed by running it again: every batch committed before the interruption is kept. A message
that cannot be stored is reported, not fatal.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from mailkite.mail import importer
from mailkite.mail.models import Folder


class Command(BaseCommand):
    help = "Import an mbox file, a Maildir or a folder of .eml files into an existing mailbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, metavar="ADDRESS", help="the mailbox to import into")
        parser.add_argument("--folder", default=Folder.INBOX, choices=Folder.NAMES)
        parser.add_argument(
            "--progress", action="store_true", help="show the progress bar even when stderr is not a terminal"
        )
        parser.add_argument("path", metavar="PATH", help="mbox file, Maildir, or folder of .eml files")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = importer.import_mail(address=options["to"], path=options["path"], folder=options["folder"])
        except importer.ImportRefused as error:
            raise CommandError(str(error)) from None
        verbose = options["verbosity"] > 1
        summary = importer.Summary()
        bar = tqdm(
            run,
            total=run.total,
            desc=f"Importing into {run.mailbox.address} {run.folder}",
            unit="msg",
            file=sys.stderr,
            disable=not (options["progress"] or sys.stderr.isatty()),
        )
        try:
            for outcome in bar:
                summary.add(outcome)
                if verbose:
                    with tqdm.external_write_mode(file=sys.stderr):
                        self.stdout.write(outcome.describe())
        except importer.ImportAborted as error:
            bar.close()
            self._report(summary)
            raise CommandError(f"Import stopped: {error}. Run the same command again to resume.") from None
        bar.close()
        if summary.imported:
            importer.refresh_statistics()
        self._report(summary)

    def _report(self, summary: importer.Summary) -> None:
        self.stdout.write(summary.line() + ("." if not summary.failures else ":"))
        for failure in summary.failures:
            self.stdout.write(f"  {failure.label}: {failure.reason}")
