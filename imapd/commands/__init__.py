"""Command handlers, one module per family; importing this package registers them all."""

from imapd.commands import (  # noqa: F401
    acl,
    auth,
    enable,
    fetch,
    idle,
    mailbox,
    misc,
    refused,
    search,
    select,
    sort,
    store,
)
