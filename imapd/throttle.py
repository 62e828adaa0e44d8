"""Login failure penalties, per client address and per key id (DESIGN §5, issue 10).

Dovecot's scheme: a failed login waits 2 s, and repeated failures from one address double the
wait up to 15 s. A key id under attack is slowed the same way, but the password itself is never
locked: anyone could otherwise lock a victim's phone out. IPv6 addresses count per /64 (one
customer's LAN; the /48 of DESIGN would let one subscriber slow down its whole provider's site).

The penalty is a delay before the answer, never an error: the count is capped, so the doubling
cannot overflow however many failures an attacker records, and the table of tracked keys is
bounded (least recently failed first out), so it cannot grow with the keys an attacker invents.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict

MAX_DELAY = 15.0
FORGET_AFTER = 300.0  # a quiet address starts afresh after five minutes
MAX_TRACKED = 100_000
# Past this many recorded failures the delay no longer grows (2 s * 2**16 is far above any cap),
# and the stored count stops growing too: 2**count is then never computed for a huge count.
MAX_COUNT = 16

log = logging.getLogger("imapd")


def address_key(peer: str) -> str:
    """The unit a limit counts for a client address: the IPv4 address, or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Penalties:
    def __init__(
        self, base_delay: float, max_delay: float = MAX_DELAY, max_tracked: int = MAX_TRACKED
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_tracked = max_tracked
        # key -> (failures, monotonic time of the latest); most recently failed last
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _count(self, key: str, now: float) -> int:
        count, last = self._failures.get(key, (0, 0.0))
        return 0 if now - last > FORGET_AFTER else count

    def delay(self, *keys: str) -> float:
        """The wait before answering a failed login for these keys (address, key id)."""
        if not self.base_delay:
            return 0.0
        now = time.monotonic()
        worst = max((self._count(key, now) for key in keys), default=0)
        return min(self.base_delay * 2.0 ** min(worst, MAX_COUNT), self.max_delay)

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._failures[key] = min(self._count(key, now) + 1, MAX_COUNT), now
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)

    def address(self, peer: str) -> str:
        return "ip:" + address_key(peer)


class FailureLog:
    """One log line per failed login (or refused connection: `what`), until an address has
    `first` of them in an interval; after that, one summary line per address per interval with
    the count, so a flood costs a few lines a minute instead of a line per attempt."""

    def __init__(
        self,
        *,
        what: str = "login failures",
        first: int = 3,
        interval: float = 60.0,
        max_tracked: int = 10_000,
    ) -> None:
        self.what = what
        self.first = first
        self.interval = interval
        self.max_tracked = max_tracked
        # address -> [interval start, failures in it, of which not logged]
        self._seen: OrderedDict[str, list[float]] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    def should_log(self, address: str) -> bool:
        """Count one failure from `address`; True if it gets its own line."""
        now = time.monotonic()
        self._flush(now)
        entry = self._seen.get(address)
        if entry is None:
            entry = self._seen[address] = [now, 0, 0]
            while len(self._seen) > self.max_tracked:
                self._summarise(*self._seen.popitem(last=False))
        entry[1] += 1
        if entry[1] <= self.first:
            return True
        entry[2] += 1
        if self._timer is None:  # the flood may stop now: its summary must not wait for another
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._on_timer)
        return False

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()
        if any(entry[2] for entry in self._seen.values()):
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._on_timer)

    def flush(self) -> None:
        """Write the summary of every address whose interval is over (called on each failure
        and by a timer, so the last burst of a flood is summarised too)."""
        self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        while self._seen:
            address, entry = next(iter(self._seen.items()))
            if now - entry[0] < self.interval:
                break
            del self._seen[address]
            self._summarise(address, entry)

    def _summarise(self, address: str, entry: list[float]) -> None:
        if entry[2]:
            log.warning(
                "%s from %s: %d in %.0f s, %d of them not logged one by one",
                self.what,
                address,
                int(entry[1]),
                self.interval,
                int(entry[2]),
            )
