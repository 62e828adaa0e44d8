"""`manage.py apppassword create|list|limits|revoke`: app-passwords from the command line.

`create` prints the secret once, alone on its line on stdout, so scripts can capture it; the
rest of what it says goes to stderr. It takes the optional limits of passwords/policy.py:
--expires, --networks and --read-only; `list` shows them. Both create and revoke go through the
credential service's audited functions, with the dashboard's label rules, and are recorded as made
on the command line.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mailkite.mail import services
from passwords import policy, service
from passwords.models import AppPassword


def _limits(row: AppPassword) -> str:
    """The password's limits in words, e.g. "read-only, expires in 7 days, from 192.0.2.0/24"."""
    parts = [row.scope] if row.read_only else []
    if row.expires_at is not None and row.revoked_at is None:
        parts.append(policy.describe_remaining(row.expires_at, now=timezone.now()))
    if row.allowed_networks:
        parts.append("from " + " ".join(row.allowed_networks))
    return ", ".join(parts)


class Command(BaseCommand):
    help = "Create, list, limit or revoke IMAP app-passwords."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create one and print its secret once")
        create.add_argument("--mailbox", required=True, metavar="ADDRESS")
        create.add_argument("--label", required=True)
        create.add_argument(
            "--expires",
            metavar="WHEN",
            help="never (default), 7, 30, 90 or 365 days, or a date YYYY-MM-DD (stops 00:00 UTC that day)",
        )
        create.add_argument(
            "--networks",
            metavar="LIST",
            help="addresses or CIDR blocks logins may come from, separated by commas (default: anywhere)",
        )
        create.add_argument(
            "--read-only",
            action="store_true",
            help="reading only: nothing is marked read, flags cannot change",
        )
        listing = sub.add_parser("list", help="list app-passwords (never their secrets)")
        listing.add_argument("--mailbox", metavar="ADDRESS")
        revoke = sub.add_parser("revoke", help="revoke one at once, by key id or number")
        revoke.add_argument("id", help="the key id (as in mk_imap_<key id>_...) or the row number")
        limits = sub.add_parser("limits", help="change an active one's expiry, networks or scope")
        limits.add_argument("id", help="the key id (as in mk_imap_<key id>_...) or the row number")
        limits.add_argument("--expires", metavar="WHEN", help="never, 7, 30, 90 or 365 days, or YYYY-MM-DD")
        limits.add_argument("--networks", metavar="LIST", help="the new list, comma-separated; '' = anywhere")
        scope = limits.add_mutually_exclusive_group()
        scope.add_argument("--read-only", dest="scope", action="store_const", const=policy.READ_ONLY)
        scope.add_argument("--read-and-flag", dest="scope", action="store_const", const=policy.READ_AND_FLAG)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        try:
            mailbox = services.find_mailbox(options["mailbox"])
        except services.InvalidAddress as error:
            raise CommandError(str(error)) from None
        if mailbox is None:
            raise CommandError(f"No mailbox {options['mailbox']}; create it with `manage.py createmailbox`.")
        try:
            row, secret = service.user_create_app_password(
                actor=service.command_line(),
                mailbox=mailbox,
                label=options["label"],
                expires=options["expires"],
                allowed_networks=policy.split_networks(options["networks"] or ""),
                scope=policy.READ_ONLY if options["read_only"] else policy.READ_AND_FLAG,
            )
        except service.Invalid as error:
            raise CommandError(str(error)) from None
        limits = _limits(row)
        self.stderr.write(
            f"App-password {row.display} ({row.label}) for {mailbox.address}"
            + (f", {limits}" if limits else "")
            + "; it is shown once:"
        )
        self.stdout.write(secret)
        refusal = mailbox.domain.imap_refusal()
        if refusal:
            self.stderr.write(f"Note: IMAP logins will be refused until this changes: {refusal}.")

    def _list(self, options: dict[str, Any]) -> None:
        rows = AppPassword.objects.select_related("mailbox__domain").order_by("created_at")
        if options["mailbox"]:
            local, domain = services.split_address(options["mailbox"])
            rows = rows.filter(mailbox__local_part=local.lower(), mailbox__domain__name=domain)
        for row in rows:
            used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never used"
            limits = _limits(row)
            self.stdout.write(
                f"{row.pk}\t{row.display}\t{row.mailbox.address}\t{row.label}\t{row.status}\t{used}"
                + (f" from {row.last_used_ip}" if row.last_used_ip else "")
                + (f" by {row.last_used_client}" if row.last_used_client else "")
                + (f"\t{limits}" if limits else "")
            )

    def _find(self, ident_or_number: str) -> AppPassword:
        ident = ident_or_number.removeprefix("mk_imap_").split("_", 1)[0]
        row = AppPassword.objects.filter(key_id=ident).first()
        if row is None and ident.isdigit():
            row = AppPassword.objects.filter(pk=int(ident)).first()
        if row is None:
            raise CommandError(f"No app-password {ident_or_number!r}; `apppassword list` shows them.")
        return row

    def _limits(self, options: dict[str, Any]) -> None:
        """The shell's operator may also widen a limit: whoever runs manage.py can create passwords."""
        row = self._find(options["id"])
        networks = options["networks"]
        try:
            row = service.user_update_app_password(
                actor=service.command_line(),
                app_password=row,
                expires=options["expires"],
                allowed_networks=None if networks is None else policy.split_networks(networks),
                scope=options["scope"],
            )
        except service.Invalid as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{row.display} ({row.label}): {_limits(row) or 'no limits'}.")

    def _revoke(self, options: dict[str, Any]) -> None:
        row = self._find(options["id"])
        if service.user_revoke_app_password(actor=service.command_line(), app_password=row):
            self.stdout.write(f"Revoked {row.display} ({row.label}); its sessions are disconnected.")
        else:
            self.stdout.write(f"{row.display} ({row.label}) was already revoked.")
