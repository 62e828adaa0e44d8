"""Command handlers, one module per family; importing this package registers them all."""

from imapd.commands import auth, fetch, idle, mailbox, misc, refused, search, store  # noqa: F401
