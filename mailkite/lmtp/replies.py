"""Every LMTP reply lmtpd sends about a recipient, with its enhanced status code (RFC 3463).

4xx makes the MTA keep the message and retry; 5xx bounces it to the sender. Anything we are not
sure is permanent is 4xx: a message retried later costs little, a wrong bounce loses mail.
"""

from __future__ import annotations

RECIPIENT_OK = "250 2.1.5 Recipient ok"
DELIVERED = "250 2.0.0 Delivered"
DELIVERED_NOT_STORED = "250 2.0.0 Accepted; the domain is on zero-retention, so nothing is stored"
SENDER_OK = "250 2.1.0 Sender ok"


def unknown_mailbox(why: str) -> str:
    return f"550 5.1.1 No such mailbox here: {_ascii(why)}"


DATABASE_DOWN = "451 4.3.0 The mail store is unavailable; try again later"
BLOB_STORE_DOWN = "451 4.3.0 The message store could not be written; try again later"
CANNOT_ENCRYPT = "451 4.7.0 The message cannot be encrypted to the domain's key yet; try again later"
UNEXPECTED = "451 4.3.0 Delivery failed unexpectedly; try again later"
NOT_STORABLE = "554 5.6.0 The message cannot be stored"
TOO_BIG_TEMPLATE = "552 5.3.4 Message too big: the limit is {limit} octets"
LINE_TOO_LONG = "500 5.5.2 Line too long"


def too_big(limit: int) -> str:
    return TOO_BIG_TEMPLATE.format(limit=limit)


def _ascii(text: str) -> str:
    """A reply is one ASCII line: the sentences of ingest may quote an address in typographic quotes."""
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
