"""Helpers for the hostile-client tests of issue 10's "streams" part: timing one exchange, and a
raw TLS client whose socket reads as slowly as the test wants."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable

from tests.imapd.wire import Wire


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of `action` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_seconds(action: Callable[[], object], tries: int = 5) -> float:
    """The median duration of `tries` calls: one slow try on a loaded machine does not decide."""
    return statistics.median(timed(action) for _ in range(tries))


def logged_in(connect: Callable[[], object], password: str) -> Wire:
    """A logged-in client that sends each line at once: with Nagle's algorithm the last segment of
    a long line can wait for the server's delayed ACK (40 ms), which is no time the server spent."""
    wire = Wire(connect())  # type: ignore[arg-type]
    wire.client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    wire.login(password)
    return wire
