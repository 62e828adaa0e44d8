"""What an API key may do, as data: each key holds a list of these scopes, chosen when it is made.

Every API operation names exactly one scope (passwords/api/permissions.py); a key without it gets a
403 problem naming the scope. Sessions (the dashboard's cookie) are not limited by scopes: they
re-enter the account password for what a person can regret instead.
"""

from __future__ import annotations

from collections.abc import Iterable

APP_PASSWORDS_READ = "app-passwords:read"
APP_PASSWORDS_WRITE = "app-passwords:write"
DOMAINS_READ = "domains:read"
DOMAINS_WRITE = "domains:write"

# In the order the dashboard offers them and keys store them.
DESCRIPTIONS: dict[str, str] = {
    APP_PASSWORDS_READ: "list app-passwords and addresses",
    APP_PASSWORDS_WRITE: "create and revoke app-passwords; add addresses",
    DOMAINS_READ: "list domains and whether each can use IMAP",
    DOMAINS_WRITE: "add and verify domains; change retention and the encryption key; delete stored mail",
}
ALL: tuple[str, ...] = tuple(DESCRIPTIONS)

# What a key made before scopes existed was promised ("may create and revoke app-passwords"),
# and what a key made without naming scopes gets: nothing about domains.
APP_PASSWORDS = (APP_PASSWORDS_READ, APP_PASSWORDS_WRITE)


class UnknownScope(ValueError):
    pass


def normalise(values: Iterable[str]) -> list[str]:
    """Known scopes, each once, in the canonical order; UnknownScope names the first stranger."""
    wanted = set(values)
    unknown = sorted(wanted - set(ALL))
    if unknown:
        raise UnknownScope(f"{unknown[0]} is not a scope; choose from {', '.join(ALL)}.")
    return [scope for scope in ALL if scope in wanted]
