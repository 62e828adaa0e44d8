"""`manage.py blobs gc [--dry-run]`: collect blobs no message references (mail.blobgc).

Removes Blob rows without messages, blob files without rows and temporary files a crashed writer
left, each older than the grace period (BLOB_GC_GRACE_HOURS, a day by default), and says how much
it freed; with --dry-run it only says what it would free. The periodic task runs the same sweep.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from mailkite.mail import blobgc


class Command(BaseCommand):
    help = "Collect unreferenced blobs (files and rows) older than the grace period."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        gc = sub.add_parser("gc", help="remove blobs no message references, and say what was freed")
        gc.add_argument("--dry-run", action="store_true", help="only say what would be freed")

    def handle(self, *args: Any, **options: Any) -> None:
        hours = settings.MAILKITE.blob_gc_grace_hours
        freed = blobgc.collect(grace=timedelta(hours=hours), dry_run=options["dry_run"])
        said = freed.sentence(dry_run=options["dry_run"])
        self.stdout.write(f"{said} Only what is older than {hours} hours.")
