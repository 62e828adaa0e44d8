"""Login failure penalties, per client address and per key id (DESIGN §5).

Dovecot's scheme: a failed login waits 2 s, and repeated failures from one address double the
wait up to 15 s. A key id under attack is slowed the same way, but the password itself is never
locked: anyone could otherwise lock a victim's phone out. IPv6 addresses count per /48.
"""

from __future__ import annotations

import ipaddress
import time

MAX_DELAY = 15.0
FORGET_AFTER = 300.0  # a quiet address starts afresh after five minutes
MAX_TRACKED = 100_000


def _address_key(peer: str) -> str:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/48", strict=False))
    return str(address)


class Penalties:
    def __init__(self, base_delay: float) -> None:
        self.base_delay = base_delay
        self._failures: dict[str, tuple[int, float]] = {}

    def delay(self, *keys: str) -> float:
        """The wait before answering a failed login for these keys (address, key id)."""
        now = time.monotonic()
        worst = 0
        for key in keys:
            count, last = self._failures.get(key, (0, 0.0))
            if now - last > FORGET_AFTER:
                count = 0
            worst = max(worst, count)
        return min(self.base_delay * (2**worst), MAX_DELAY) if self.base_delay else 0.0

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) > MAX_TRACKED:
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] < FORGET_AFTER}
        for key in keys:
            count, last = self._failures.get(key, (0, 0.0))
            self._failures[key] = (0 if now - last > FORGET_AFTER else count) + 1, now

    def address(self, peer: str) -> str:
        return "ip:" + _address_key(peer)
