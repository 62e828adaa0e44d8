"""Client addresses as the limits and network lists read them: standard library only, so the
protocol core and the Django apps (passwords) can share it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Address | None:
    """The address `text` spells, None if it is none; an IPv4-mapped IPv6 address (how an IPv4
    client shows on a dual-stack socket, ::ffff:192.0.2.7) is read as the IPv4 address it is."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(text: str, networks: Iterable[Network]) -> bool:
    """Whether the address `text` spells lies in one of `networks`; an unreadable one never does."""
    address = parse_address(text)
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in networks)
