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


def ascii_only(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def no_mailbox(reason: str) -> str:
    text = NO_MAILBOX.format(reason=reason[:1].upper() + reason[1:])
    return text.encode("ascii", "replace").decode("ascii")
