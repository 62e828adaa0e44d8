"""`manage.py bump_uidvalidity`: after a database restore, tell every client to resynchronise.

A restore can hand out UIDs that clients already saw for other messages; a new UIDVALIDITY makes
them drop their caches (IMAP-NOTES 10). It is the only way UIDVALIDITY ever changes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import F
from django.db.models.functions import Greatest

from mailkite.mail import services
from mailkite.mail.models import Folder


class Command(BaseCommand):
    help = "Give every folder (or one mailbox's) a new, larger UIDVALIDITY after a restore."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mailbox", metavar="ADDRESS", help="only this mailbox's folders")

    def handle(self, *args: Any, **options: Any) -> None:
        folders = Folder.objects.all()
        if options["mailbox"]:
            local, domain = services.split_address(options["mailbox"])
            folders = folders.filter(mailbox__local_part=local.lower(), mailbox__domain__name=domain)
        count = folders.update(uidvalidity=Greatest(F("uidvalidity") + 1, services.new_uidvalidity()))
        self.stdout.write(f"New UIDVALIDITY for {count} folder(s); clients will resynchronise them.")
