"""One LMTP transaction over smtplib.LMTP, reading every reply RFC 2033 says comes back.

smtplib.LMTP reads one reply after DATA, as for SMTP; LMTP sends one per accepted recipient.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass


@dataclass
class Transaction:
    mail: tuple[int, bytes]
    rcpt: list[tuple[int, bytes]]
    data: list[tuple[int, bytes]]  # one per accepted recipient, in RCPT order

    @property
    def data_lines(self) -> list[str]:
        return [f"{code} {text.decode()}" for code, text in self.data]


def stuffed(message: bytes) -> bytes:
    """DATA's transparency: a line starting with a dot gets a second one (RFC 5321 4.5.2)."""
    lines = message.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def send(client: smtplib.LMTP, sender: str, recipients: list[str], message: bytes) -> Transaction:
    mail = client.docmd(f"MAIL FROM:<{sender}>")
    rcpt = [client.docmd(f"RCPT TO:<{address}>") for address in recipients]
    accepted = sum(1 for code, _ in rcpt if code == 250)
    if mail[0] != 250 or not accepted:
        return Transaction(mail, rcpt, [])
    code, text = client.docmd("DATA")
    assert code == 354, (code, text)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    client.send(stuffed(message) + b".\r\n")
    return Transaction(mail, rcpt, [client.getreply() for _ in range(accepted)])
