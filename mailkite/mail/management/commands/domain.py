"""`manage.py domain verify|retention|encryption|purge-mail NAME ...`: the domain lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailkite.mail import domains, encryption, services
from mailkite.mail.models import Domain


class Command(BaseCommand):
    help = "Verify a domain's MX, change its retention, set its encryption key, or purge its mail."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="check the TXT (ownership) and MX records now").add_argument("name")
        retention = sub.add_parser("retention", help="retain mail, or zero-retention (passthrough)")
        retention.add_argument("name")
        retention.add_argument("retention", choices=Domain.Retention.values)
        crypto = sub.add_parser("encryption", help="encrypt new mail to an OpenPGP key or S/MIME certificate")
        crypto.add_argument("name")
        crypto.add_argument("kind", choices=Domain.Encryption.values)
        crypto.add_argument("key_file", nargs="?", type=Path, help="ASCII-armoured key or PEM certificate")
        crypto.add_argument(
            "--protect-subject", action="store_true", help="hide the Subject in the outer message"
        )
        purge = sub.add_parser("purge-mail", help="delete a zero-retention domain's stored mail")
        purge.add_argument("name")
        purge.add_argument("--yes", action="store_true", help="confirm: the mail cannot be restored")
        for action in sub.choices.values():
            action.add_argument("--owner", help="username, when several accounts claim the domain")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            name = services.normalise_domain(options["name"])
            domain = services.claim_for_command(name, owner=options["owner"])
        except services.InvalidAddress as error:
            raise CommandError(str(error)) from None
        getattr(self, "_" + options["action"].replace("-", "_"))(domain, options)

    def _verify(self, domain: Domain, options: dict[str, Any]) -> None:
        domains.verify(domain)
        state = "IMAP on" if domain.imap_refusal() is None else f"IMAP off: {domain.imap_refusal()}"
        self.stdout.write(f"{domain.txt_detail} {domain.mx_detail} ({state})")
        if domain.owner_verified_at is None or domain.txt_deadline is not None:
            self.stdout.write(f"Ownership record to publish:\n  {domains.txt_record(domain)}")

    def _retention(self, domain: Domain, options: dict[str, Any]) -> None:
        domains.set_retention(domain, options["retention"])
        if options["retention"] == Domain.Retention.PASSTHROUGH:
            self.stdout.write(
                f"{domain.name} is now zero-retention: IMAP sessions were ended and new mail is not stored. "
                "Stored mail stays until you run `domain purge-mail --yes`."
            )
        else:
            self.stdout.write(f"{domain.name} now retains new mail.")

    def _encryption(self, domain: Domain, options: dict[str, Any]) -> None:
        key = ""
        if options["kind"] != Domain.Encryption.NONE:
            if options["key_file"] is None:
                raise CommandError("Give the key or certificate file.")
            key = options["key_file"].read_text("utf-8", "replace")
        try:
            described = domains.set_encryption(
                domain, kind=options["kind"], key=key, protect_subject=options["protect_subject"]
            )
        except encryption.InvalidKey as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"New mail for {domain.name} is encrypted to {described}."
            if described
            else f"New mail for {domain.name} is stored unencrypted."
        )

    def _purge_mail(self, domain: Domain, options: dict[str, Any]) -> None:
        if not options["yes"]:
            raise CommandError("This deletes the domain's stored mail for good; add --yes to confirm.")
        try:
            count = domains.purge_mail(domain)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Deleted {count} stored message(s) of {domain.name}.")
