"""`manage.py deliver --to ADDRESS [--folder INBOX|Sent] [FILE]`: an MTA pipe transport's target.

Exit codes follow sysexits(3) so an MTA does the right thing: 0 stored (or dropped by a
zero-retention domain, which is success), EX_NOUSER (67) for an address no mailbox will take,
EX_TEMPFAIL (75) when the database or blob store is unreachable (or anything unexpected fails),
so the MTA retries later, and EX_DATAERR (65) for a message that can never be stored.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, InterfaceError, OperationalError

from mailkite.mail import encryption, ingest
from mailkite.mail.models import Folder

log = logging.getLogger("mailkite.deliver")


class Command(BaseCommand):
    help = "Store one message (from FILE or standard input) for a recipient address."
    # Mail delivery must not depend on the rest of the project passing Django's system checks
    # (which import every URL module): a broken web view must not bounce or delay mail.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, metavar="ADDRESS", help="recipient address")
        parser.add_argument("--folder", default=Folder.INBOX, choices=Folder.NAMES)
        parser.add_argument("file", nargs="?", help="RFC 5322 message file; standard input if omitted")

    def handle(self, *args: Any, **options: Any) -> None:
        raw = self._read(options["file"])
        if not raw.strip():
            self.stderr.write("deliver: the message is empty; nothing was stored")
            sys.exit(os.EX_DATAERR)
        try:
            delivery = ingest.deliver(address=options["to"], raw=raw, folder=options["folder"])
        except ingest.UnknownRecipient as error:
            self.stderr.write(f"deliver: {error}")
            sys.exit(os.EX_NOUSER)
        except encryption.EncryptionUnavailable as error:
            # Never store plaintext for an encrypted domain: the MTA keeps the message and retries.
            self.stderr.write(f"deliver: cannot encrypt to the domain's key, try again later ({error})")
            sys.exit(os.EX_TEMPFAIL)
        except (OperationalError, InterfaceError) as error:
            self.stderr.write(
                f"deliver: the database is unavailable, try again later ({type(error).__name__})"
            )
            sys.exit(os.EX_TEMPFAIL)
        except DatabaseError as error:  # DataError, IntegrityError: retrying will not help
            log.exception("deliver: the message could not be stored")
            self.stderr.write(f"deliver: the message could not be stored ({type(error).__name__})")
            sys.exit(os.EX_DATAERR)
        except OSError as error:
            self.stderr.write(
                f"deliver: the blob store could not be written, try again later ({error.strerror})"
            )
            sys.exit(os.EX_TEMPFAIL)
        except Exception:
            log.exception("deliver: unexpected failure")
            self.stderr.write("deliver: an unexpected error occurred, try again later (see the log)")
            sys.exit(os.EX_TEMPFAIL)
        self.stdout.write(delivery.report())

    def _read(self, path: str | None) -> bytes:
        if path is None:
            return sys.stdin.buffer.read()
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as error:
            self.stderr.write(f"deliver: cannot read {path}: {error.strerror}")
            sys.exit(os.EX_NOINPUT)
