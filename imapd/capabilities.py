"""What the server advertises, before and after login (DESIGN §5, IMAP-NOTES 19 and 21).

IMAP4rev1 must be listed: imaplib, aioimaplib and mutt refuse a server without it. IMAP4rev2 is
listed because its semantics hold once a client sends ENABLE IMAP4rev2 (ESEARCH answers, no
RECENT or UNSEEN in SELECT, a LIST line and [CLOSED] on SELECT). LITERAL-, not LITERAL+; never
UIDONLY (Outlook breaks, mox#388), MULTIAPPEND, CATENATE, APPENDLIMIT or MOVE: moving is refused,
and a client that saw MOVE would expect it to work (IMAP-NOTES 6).
"""

from __future__ import annotations

BEFORE_LOGIN = ("IMAP4rev1", "IMAP4rev2", "SASL-IR", "LITERAL-", "ID", "ENABLE", "IDLE", "AUTH=PLAIN")
AFTER_LOGIN = (
    "IMAP4rev1",
    "IMAP4rev2",
    "SASL-IR",
    "LITERAL-",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "CHILDREN",
    "SPECIAL-USE",
    "XLIST",  # Outlook 2013/2016 read special use only through XLIST (IMAP-NOTES 9)
    "LIST-EXTENDED",
    "LIST-STATUS",
    "ESEARCH",
    "SEARCHRES",
    "CONDSTORE",
    "QRESYNC",
    "UTF8=ACCEPT",
    "SORT",
    "SORT=DISPLAY",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "BINARY",
    "COMPRESS=DEFLATE",
    "ACL",
    "RIGHTS=kxte",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "QUOTA=RES-MESSAGE",
)

# What ENABLE can switch on (RFC 5161); anything else is ignored, as §3.1 requires.
ENABLEABLE = ("CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4rev2")


def line(authenticated: bool) -> str:
    return " ".join(AFTER_LOGIN if authenticated else BEFORE_LOGIN)
