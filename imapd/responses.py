"""Typed replies and the three error kinds, mapped to the wire at one site (the session).

Handlers raise No or Bad for a refusal and yield Untagged lines; they never write to a socket.
Response text is the server's own: client input is never echoed back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Untagged:
    data: bytes

    def to_bytes(self) -> bytes:
        return b"* " + self.data + b"\r\n"


@dataclass(frozen=True)
class Continuation:
    """A command continuation request, `+ text` (IDLE's "+ idling")."""

    text: bytes

    def to_bytes(self) -> bytes:
        return b"+ " + self.text + b"\r\n"


@dataclass(frozen=True)
class Done:
    """The tagged OK's response code and text, when a handler wants more than "completed"."""

    text: str
    code: str | None = None


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    coded = f"[{code}] " if code else ""
    return f"{tag} {status} {coded}{text}\r\n".encode("utf-8", "replace")


class CommandError(Exception):
    status = "NO"

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class No(CommandError):
    """The command was understood but is refused: tagged NO, with a response code."""

    status = "NO"


class Bad(CommandError):
    """The command is malformed or not valid in this state: tagged BAD."""

    status = "BAD"


class Bye(Exception):
    """End the connection after sending `* BYE text`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
