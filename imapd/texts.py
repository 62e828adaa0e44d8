"""The product's own sentences, in ASCII (text before login must be 7-bit), pinned by tests."""

AUTH_FAILED = (
    "Authentication failed - the password must be an mk_imap_... app-password (not your API key). "
    "Create or revoke them under Settings > IMAP."
)
API_KEY_GIVEN = "That is an API key, not an IMAP app-password. " + AUTH_FAILED
NO_MAILBOX = (
    "No mailbox - the domain must carry this account's TXT record, be MX-verified and not be on "
    "zero-retention. {reason}."
)
UNAVAILABLE = "The mail store is temporarily unavailable; please try again in a minute."
LOGIN_BUSY = "Too many logins are waiting; please try again in a minute."
TOO_MANY_FAILURES = (
    "Too many failed logins on this connection. Check the app-password under Settings > IMAP, then reconnect."
)
LOGIN_DEADLINE = "You did not log in within {seconds} seconds of connecting; closing the connection."
SERVER_FULL = "This server is at its connection limit; please try again in a few minutes."
TOO_MANY_UNAUTHENTICATED = (
    "Too many connections from your address have not logged in yet; please try again in a minute."
)
TOO_MANY_FOR_MAILBOX = (
    "Too many connections to this mailbox from your address (at most {limit}); "
    "close some of your mail apps' connections and try again."
)


EXPIRED = "This app-password expired on {day}; create a new one in Settings > IMAP."
NOT_FROM = "This app-password may not be used from {address}."
READ_ONLY_STORE = (
    "This app-password is read-only: it can read mail but not change flags. "
    "Create a read-and-flag app-password in Settings > IMAP to mark, star or tag messages."
)


def expired(day: str) -> str:
    return EXPIRED.format(day=day)


def not_from(address: str) -> str:
    return ascii_only(NOT_FROM.format(address=address))


def ascii_only(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def no_mailbox(reason: str) -> str:
    text = NO_MAILBOX.format(reason=reason[:1].upper() + reason[1:])
    return text.encode("ascii", "replace").decode("ascii")


def login_deadline(seconds: float) -> str:
    return LOGIN_DEADLINE.format(seconds=f"{seconds:g}")


def too_many_for_mailbox(limit: int) -> str:
    return TOO_MANY_FOR_MAILBOX.format(limit=limit)
