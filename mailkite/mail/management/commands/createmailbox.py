"""`manage.py createmailbox ADDRESS`: add an address before any mail arrives for it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from mailkite.mail import services


class Command(BaseCommand):
    help = "Create a mailbox (with its INBOX and Sent folders) on an existing domain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("address")
        parser.add_argument("--owner", help="username, when several accounts claim the domain")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            local, domain_name = services.split_address(options["address"])
        except services.InvalidAddress as error:
            raise CommandError(str(error)) from None
        try:
            domain = services.claim_for_command(domain_name, owner=options["owner"])
        except services.InvalidAddress as error:
            raise CommandError(str(error)) from None
        try:
            mailbox = services.create_mailbox(domain=domain, local_part=local)
        except IntegrityError:
            raise CommandError(f"The mailbox {options['address']} already exists.") from None
        self.stdout.write(f"Created mailbox {mailbox.address} with folders INBOX and Sent.")
