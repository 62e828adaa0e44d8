"""Wrong API keys, counted per client address: past API_AUTH_FAILURE_LIMIT in a window of
API_AUTH_COOLOFF_MINUTES, every Bearer request from that address is a 429 until the window ends,
the right key included, so guessing cannot go on and cannot tell a hit from a miss.

Counts live in Django's cache (shared by every web process with REDIS_URL). The window starts at
the first failure and is not extended by later ones: a cool-off, never a lock.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def _keys(ip: str | None) -> tuple[str, str]:
    who = ip or "unknown"
    return f"api-auth-failures:{who}", f"api-auth-failures-until:{who}"


def seconds_to_wait(ip: str | None) -> int:
    """0 while the address may try keys; otherwise how long its cool-off still lasts."""
    count_key, until_key = _keys(ip)
    count = cache.get(count_key, 0)
    if count < settings.MAILKITE.api_auth_failure_limit:
        return 0
    until = cache.get(until_key)
    return max(1, int((until or time.time()) - time.time()) + 1)


def record_failure(ip: str | None) -> None:
    count_key, until_key = _keys(ip)
    window = settings.MAILKITE.api_auth_cooloff_minutes * 60
    cache.add(until_key, time.time() + window, window)
    cache.add(count_key, 0, window)
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add and incr: start a new window
        cache.set(count_key, 1, window)
