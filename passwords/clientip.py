"""The client's address, as every web-side record and limit uses it (DESIGN §4, issue 11).

Without TRUSTED_PROXIES it is the socket's peer (REMOTE_ADDR): X-Forwarded-For is anyone's to
write. With it, and only when the peer is one of those proxies, X-Forwarded-For (read by
django-ipware) is walked from the right past the trusted proxies to the first address they did not
vouch for: what the client itself put further left is never believed. Used by django-axes
(AXES_CLIENT_IP_CALLABLE), the API's throttles, the audit trail and last-used.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip

from imapd.addresses import Network, in_networks

FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"
# Hops past which we stop walking: no real deployment chains this many proxies.
MAX_HOPS = 10


@lru_cache(maxsize=8)
def _networks(listed: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in listed)


def _trusted(address: str, listed: tuple[str, ...]) -> bool:
    return in_networks(address, _networks(listed))


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    listed: tuple[str, ...] = settings.MAILKITE.trusted_proxies
    if remote is None or not listed or not _trusted(remote, listed):
        return remote
    address = remote
    for hops in range(MAX_HOPS):
        # proxy_count=hops: the entry `hops` places from the right of X-Forwarded-For.
        found, _ = get_client_ip(
            request, proxy_count=hops, request_header_order=[FORWARDED_FOR], strict=False
        )
        if found is None:
            break
        address = found
        if not _trusted(found, listed):
            break
    return address
