"""`manage.py createdomain NAME --owner USER [--mx-verified] [--retention retain|passthrough]`.

The domain starts as the owner's pending claim and the command prints the TXT record proving
ownership. Reserved test names (.test, .example, .invalid, .localhost) can never carry public
records, so for them --mx-verified marks ownership proven too: the seeds' working domain."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from mailkite.mail import domains, services
from mailkite.mail.models import Domain


class Command(BaseCommand):
    help = (
        "Add a domain for a user and print the TXT record proving ownership. It starts unverified; "
        "--mx-verified marks the MX verified (and, for reserved test names only, ownership too)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="username of the owning user")
        parser.add_argument("--mx-verified", action="store_true", help="mark the MX as verified now")
        parser.add_argument("--retention", default=Domain.Retention.RETAIN, choices=Domain.Retention.values)
        parser.add_argument("--catch-all", action="store_true", help="create mailboxes on first delivery")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"No user {options['owner']!r}; create one with `manage.py createsuperuser`.")
        try:
            name = services.normalise_domain(options["name"])
            domain = services.create_domain(
                name=name,
                owner=owner,
                mx_verified=options["mx_verified"],
                owner_verified=options["mx_verified"] and services.is_reserved(name),
                retention=options["retention"],
            )
        except services.InvalidAddress as error:
            raise CommandError(str(error)) from None
        except IntegrityError:
            raise CommandError(
                f"The domain {options['name']} already exists for {options['owner']}, "
                "or another account owns it."
            ) from None
        if options["catch_all"]:
            Domain.objects.filter(pk=domain.pk).update(catch_all=True)
        state = "MX-verified" if domain.mx_verified_at else "not yet MX-verified"
        self.stdout.write(f"Created {domain.name} for {owner.get_username()} ({state}, {domain.retention}).")
        if domain.owner_verified_at is None:
            self.stdout.write(
                "Prove ownership: publish this TXT record, then run `manage.py domain verify "
                f"{domain.name}`:\n  {domains.txt_record(domain)}"
            )
