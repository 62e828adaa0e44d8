"""Domain and mailbox services: the business rules the CLI, dashboard and API share."""

from __future__ import annotations

import re
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from mailkite.mail.models import Domain, Folder, Mailbox

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


class InvalidAddress(ValueError):
    """An address or domain name that cannot be used, with a sentence saying why."""


def normalise_domain(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidAddress(f"“{name}” is not a valid domain name.") from None
    if not _DOMAIN.match(name):
        raise InvalidAddress(f"“{name}” is not a valid domain name.")
    return name


def split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.strip().rpartition("@")
    if not at or not _LOCAL.match(local) or local.startswith(".") or ".." in local:
        raise InvalidAddress(f"“{address}” is not a valid email address.")
    return local, normalise_domain(domain)


@transaction.atomic
def create_domain(
    *,
    name: str,
    owner: Any,
    mx_verified: bool = False,
    retention: str = Domain.Retention.RETAIN,
) -> Domain:
    return Domain.objects.create(
        name=normalise_domain(name),
        owner=owner,
        mx_verified_at=timezone.now() if mx_verified else None,
        retention=retention,
    )


def new_uidvalidity() -> int:
    # Seconds since the epoch: it only grows, fits the 32-bit nz-number until 2106, and a
    # restore bumps it past the old value (UIDs themselves are never derived from time).
    return int(time.time())


@transaction.atomic
def create_mailbox(*, domain: Domain, local_part: str) -> Mailbox:
    """Create the address with its two folders, INBOX and Sent."""
    local, _ = split_address(f"{local_part}@{domain.name}")
    mailbox = Mailbox.objects.create(domain=domain, local_part=local.lower())
    uidvalidity = new_uidvalidity()
    Folder.objects.bulk_create(
        [Folder(mailbox=mailbox, name=name, uidvalidity=uidvalidity) for name in Folder.NAMES]
    )
    return mailbox


def find_mailbox(address: str) -> Mailbox | None:
    local, domain = split_address(address)
    return (
        Mailbox.objects.select_related("domain").filter(domain__name=domain, local_part=local.lower()).first()
    )
