"""LMTP delivery (RFC 2033): the long-lived process an MTA hands mail to (`manage.py lmtpd`).

- `protocol`: aiosmtpd's LMTP session, with one reply per recipient after DATA in every case
  (including a message over the size limit) and the envelope sender as Return-Path.
- `session`: the aiosmtpd handler: recipients are checked at RCPT time, messages are delivered
  after DATA through the group-committing `batcher`.
- `store`: the only module here that touches the ORM (through `mailkite.mail.ingest`); it runs on
  a thread pool, never on the event loop.
- `replies`: every reply text, in one table.
- `server`: the listening socket, start and stop.
"""
