"""What the server advertises, before and after login (DESIGN §5, IMAP-NOTES 19 and 21).

IMAP4rev1 must be listed: imaplib, aioimaplib and mutt refuse a server without it. LITERAL-,
not LITERAL+; never UIDONLY, MULTIAPPEND, CATENATE or APPENDLIMIT.
"""

from __future__ import annotations

BEFORE_LOGIN = ("IMAP4rev1", "SASL-IR", "LITERAL-", "ID", "AUTH=PLAIN")
AFTER_LOGIN = (
    "IMAP4rev1",
    "SASL-IR",
    "LITERAL-",
    "ID",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "SPECIAL-USE",
)


def line(authenticated: bool) -> str:
    return " ".join(AFTER_LOGIN if authenticated else BEFORE_LOGIN)
