"""What an app-password may do, besides opening its mailbox: until when, from where, and how much.

Three optional limits chosen at creation (issue 15 points 1-3), parsed and checked here so the
dashboard, the REST API, the CLI and imapd share one reading of them:

- expiry: never, a number of days from now (7, 30, 90, 365), or a date (the password stops at
  00:00 UTC that day, so "expired on 2027-03-01" is the date the person chose);
- allowed networks: addresses or CIDR blocks, IPv4 and IPv6, read with the standard library's
  `ipaddress`; an empty list means anywhere;
- scope: read-and-flag (what every password could always do) or read-only.

Changing them later (passwords.service.user_update_app_password): anyone who may see the password
may shorten its expiry, narrow its networks or make it read-only; lengthening, widening or giving
back flag rights needs the same authority as creating one (a fresh account-password re-entry, or
an API key with app-passwords:write), because it gives a possibly-leaked password more power.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from imapd.addresses import Address, parse_address

READ_AND_FLAG = "read-and-flag"
READ_ONLY = "read-only"
SCOPES = (READ_AND_FLAG, READ_ONLY)
SCOPE_CHOICES = [
    (READ_AND_FLAG, "Read and flag (mark read, star, tag)"),
    (READ_ONLY, "Read only (nothing is marked read; flags cannot change)"),
]

NEVER = "never"
EXPIRY_DAYS = (7, 30, 90, 365)
EXPIRY_CHOICES = [
    (NEVER, "Never"),
    *[(str(days), f"In {days} days") for days in EXPIRY_DAYS],
    ("date", "On a date"),
]
LATEST_EXPIRY_YEARS = 5  # a date further away than this is almost surely a typo
REMINDER_DAYS = (7, 1)  # the owner hears this many days before expiry (mailkite periodic task)

MAX_NETWORKS = 20


class PolicyError(ValueError):
    """A limit that cannot be read; `field` names the input, the message is a sentence for people."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# -- expiry ------------------------------------------------------------------------------------------


def expiry_from_date(day: date, *, now: datetime) -> datetime:
    """The moment a password chosen to expire "on `day`" stops: 00:00 UTC that day."""
    moment = datetime.combine(day, time.min, tzinfo=UTC)
    if moment <= now:
        raise PolicyError("expires", "Choose an expiry date after today.")
    if moment > now + timedelta(days=366 * LATEST_EXPIRY_YEARS):
        raise PolicyError("expires", f"Choose an expiry date within {LATEST_EXPIRY_YEARS} years.")
    return moment


def parse_expiry(value: str | None, *, now: datetime) -> datetime | None:
    """`never` (or empty) → None; `7`, `30`, `90`, `365` (a trailing `d` allowed) → that many days
    from now; an ISO date `2027-03-01` → that day at 00:00 UTC. Anything else raises PolicyError."""
    text = (value or "").strip().lower()
    if text in ("", NEVER):
        return None
    days = text.removesuffix("d")
    if days.isdigit():
        if int(days) not in EXPIRY_DAYS:
            choices = ", ".join(str(d) for d in EXPIRY_DAYS)
            raise PolicyError("expires", f"Expiry in days must be one of {choices}; or give a date.")
        return now + timedelta(days=int(days))
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PolicyError(
            "expires",
            "Give the expiry as never, a number of days (7, 30, 90 or 365) or a date like 2027-03-01.",
        ) from None
    return expiry_from_date(day, now=now)


def expiry_day(expires_at: datetime) -> str:
    """The date people read in sentences: the UTC day the password stopped (YYYY-MM-DD)."""
    return expires_at.astimezone(UTC).date().isoformat()


def describe_remaining(expires_at: datetime | None, *, now: datetime) -> str:
    """"expires in 3 days", "expires in 5 hours", "expired on 2027-03-01"; empty when it never does."""
    if expires_at is None:
        return ""
    if expires_at <= now:
        return f"expired on {expiry_day(expires_at)}"
    left = expires_at - now
    if left >= timedelta(days=2):  # rounded: a password made "for 7 days" reads 7, not 6
        return f"expires in {(left + timedelta(hours=12)).days} days"
    if left >= timedelta(hours=2):
        return f"expires in {int(left.total_seconds() // 3600)} hours"
    minutes = max(1, int(left.total_seconds() // 60))
    return f"expires in {minutes} minute{'s' if minutes != 1 else ''}"


# -- allowed networks --------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def split_networks(text: str) -> list[str]:
    """The dashboard's and CLI's one-string form: commas, spaces or new lines between entries."""
    return [part for part in text.replace(",", " ").split() if part]


def parse_networks(values: Iterable[str]) -> list[str]:
    """Each entry an address or CIDR block; stored in ipaddress's normal spelling, duplicates
    dropped. Host bits are forgiven (192.0.2.7/24 is 192.0.2.0/24): the person meant the block."""
    networks: list[str] = []
    for raw in values:
        if not isinstance(raw, str):
            raise PolicyError("allowed_networks", "Each allowed network must be text, like 192.0.2.0/24.")
        text = raw.strip()
        if not text:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise PolicyError(
                "allowed_networks",
                f"“{shown}” is not an IP address or network; "
                "write it like 192.0.2.7, 192.0.2.0/24 or 2001:db8::/48.",
            ) from None
        spelled = str(network.network_address) if network.num_addresses == 1 else str(network)
        if spelled not in networks:
            networks.append(spelled)
    if len(networks) > MAX_NETWORKS:
        raise PolicyError("allowed_networks", f"List at most {MAX_NETWORKS} networks; use wider blocks.")
    return networks


def _address(peer: str) -> Address | None:
    # An IPv4 client on a dual-stack socket shows as ::ffff:192.0.2.7; it is matched against IPv4 blocks.
    return parse_address(peer.split("%", 1)[0])


def allows(networks: Iterable[str], peer: str | None) -> bool:
    """Whether a login from `peer` may use a password limited to `networks` (empty: anywhere).
    An address we cannot read is refused when there is a list: the list is there to be strict."""
    listed = list(networks)
    if not listed:
        return True
    address = _address(peer or "")
    if address is None:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in listed)


def is_narrowing(old: list[str], new: list[str]) -> bool:
    """Whether `new` allows no address that `old` did not: each new block inside an old one."""
    if not old:
        return True
    if not new:
        return False  # anywhere is wider than any list
    olds: list[Network] = [ipaddress.ip_network(net, strict=False) for net in old]
    for net in new:
        block = ipaddress.ip_network(net, strict=False)
        if not any(block.version == o.version and block.subnet_of(o) for o in olds):  # type: ignore[arg-type]
            return False
    return True


def clean_scope(value: str | None) -> str:
    text = (value or READ_AND_FLAG).strip().lower()
    if text not in SCOPES:
        raise PolicyError("scope", f"The scope must be {READ_AND_FLAG} or {READ_ONLY}.")
    return text


@dataclass(frozen=True)
class Limits:
    """The three limits of one password, as stored."""

    expires_at: datetime | None = None
    allowed_networks: list[str] = field(default_factory=list)
    scope: str = READ_AND_FLAG


def read_limits(
    *, expires: str | None, allowed_networks: Iterable[str] | None, scope: str | None, now: datetime
) -> Limits:
    """Limits from what a door received; PolicyError names the first field that cannot be read."""
    return Limits(
        expires_at=parse_expiry(expires, now=now),
        allowed_networks=parse_networks(allowed_networks or []),
        scope=clean_scope(scope),
    )
