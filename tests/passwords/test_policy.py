"""passwords.policy: how expiry and allowed networks are read and matched."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from passwords import policy

NOW = datetime(2026, 12, 3, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("peer", "networks", "allowed"),
    [
        ("192.0.2.7", ["192.0.2.0/24"], True),
        ("192.0.3.7", ["192.0.2.0/24"], False),
        ("::ffff:192.0.2.7", ["192.0.2.0/24"], True),  # IPv4 on a dual-stack socket
        ("2001:db8:0:1::5", ["2001:db8::/48"], True),
        ("2001:db9::5", ["2001:db8::/48"], False),
        ("fe80::1%eth0", ["fe80::/64"], True),
        ("unix-socket", ["192.0.2.0/24"], False),  # unreadable: refused when there is a list
        ("unix-socket", [], True),
    ],
)
def test_allows(peer: str, networks: list[str], allowed: bool) -> None:
    assert policy.allows(networks, peer) is allowed


def test_networks_are_normalised_and_deduplicated() -> None:
    assert policy.parse_networks(["192.0.2.7/24", " 192.0.2.0/24 ", "2001:DB8::1/128", "10.0.0.1"]) == [
        "192.0.2.0/24",
        "2001:db8::1",
        "10.0.0.1",
    ]


def test_narrowing() -> None:
    assert policy.is_narrowing([], ["192.0.2.0/24"])
    assert policy.is_narrowing(["192.0.2.0/24"], ["192.0.2.128/25", "192.0.2.9"])
    assert not policy.is_narrowing(["192.0.2.0/24"], ["192.0.0.0/16"])
    assert not policy.is_narrowing(["192.0.2.0/24"], [])
    assert not policy.is_narrowing(["192.0.2.0/24"], ["2001:db8::/48"])


def test_expiry_spellings() -> None:
    assert policy.parse_expiry("never", now=NOW) is None
    assert policy.parse_expiry("", now=NOW) is None
    assert policy.parse_expiry("30d", now=NOW) == NOW + timedelta(days=30)
    assert policy.parse_expiry("2027-03-01", now=NOW) == datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(policy.PolicyError, match="after today"):
        policy.parse_expiry(NOW.date().isoformat(), now=NOW)
    with pytest.raises(policy.PolicyError, match="within 5 years"):
        policy.expiry_from_date(date(2032, 1, 1), now=NOW)


def test_remaining_in_words() -> None:
    assert policy.describe_remaining(NOW + timedelta(days=3, hours=1), now=NOW) == "expires in 3 days"
    assert policy.describe_remaining(NOW + timedelta(hours=30), now=NOW) == "expires in 30 hours"
    assert policy.describe_remaining(NOW + timedelta(seconds=61), now=NOW) == "expires in 1 minute"
    assert policy.describe_remaining(datetime(2026, 3, 1, tzinfo=UTC), now=NOW) == "expired on 2026-03-01"
