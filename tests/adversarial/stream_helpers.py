"""Helpers for the hostile-client tests of issue 10's "streams" part: timing one exchange, and a
raw TLS client whose socket reads as slowly as the test wants."""

from __future__ import annotations

import socket
import ssl
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


class RawClient:
    """A TLS client on a plain socket with a small receive buffer, reading only when told to:
    a reader as slow as the test wants (imaplib reads whatever arrives)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, *, rcvbuf: int = 64 * 1024) -> None:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
        raw.settimeout(30)
        raw.connect((host, port))
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def read_until(self, marker: bytes, *, chunk: int = 16 * 1024, pause: float = 0.0) -> bytes:
        """Everything up to and including `marker`, `chunk` bytes per read with `pause` seconds
        between reads. Returns the bytes before the marker's line ended."""
        while marker not in self.buffer:
            data = self.sock.recv(chunk)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buffer += data
            if pause:
                time.sleep(pause)
        end = self.buffer.index(marker) + len(marker)
        line_end = self.buffer.index(b"\r\n", end) + 2
        out, self.buffer = self.buffer[:line_end], self.buffer[line_end:]
        return out

    def consume_until(self, marker: bytes, *, chunk: int = 16 * 1024, pause: float = 0.0) -> int:
        """Like read_until, but keeps only a tail: the number of bytes read until `marker`."""
        total = 0
        tail = b""
        while marker not in tail:
            data = self.sock.recv(chunk)
            if not data:
                raise ConnectionError("the server closed the connection")
            total += len(data)
            tail = (tail + data)[-4096:]
            if pause:
                time.sleep(pause)
        return total

    def close(self) -> None:
        self.sock.close()


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB (/proc/PID/status)."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


def reset_peak_memory(pid: int) -> None:
    """Start VmHWM over from the current RSS (Linux: "5" to /proc/PID/clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")
