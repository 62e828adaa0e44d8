"""The mail store: domains, mailboxes, their two folders, messages and their search text, and
content-addressed blobs.

Invariants (DESIGN §3):
- a mailbox has exactly two folders, INBOX and Sent, created with it;
- a folder's UIDs and modseqs are assigned under its row lock by one UPDATE ... RETURNING of the
  counters, so they become visible in strictly ascending order;
- a message row references a blob that was durably written before the row's transaction began;
- nothing is deleted through IMAP; rare deletions leave an Expunged tombstone;
- a blob no message references is deleted, file and row, by mail.blobgc (at once after a purge or
  a removal, otherwise after a grace period), never while an ingest is about to reference it.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

# The TXT value a domain's owner publishes: "mailkite-verification=<token>" (docs/domains.md).
TXT_PREFIX = "mailkite-verification="
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_verification_token() -> str:
    # 32 characters of [a-z0-9]: about 165 random bits, legal in any DNS TXT string and in IMAP
    # text, and unambiguous when read aloud over a support call.
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(32))


class Domain(models.Model):
    class Retention(models.TextChoices):
        RETAIN = "retain", "Retain mail"
        PASSTHROUGH = "passthrough", "Zero-retention (store nothing)"

    class Encryption(models.TextChoices):
        NONE = "none", "None"
        PGP = "pgp", "OpenPGP (PGP/MIME)"
        SMIME = "smime", "S/MIME"

    class Ownership(models.TextChoices):
        VERIFIED = "verified", "Verified"
        PENDING = "pending", "Pending"
        CLOSED = "closed", "Closed"

    # One row per account that added the name (a claim); at most one of them owns it, the one
    # whose TXT token was proven first (owner_verified_at set; enforced by "domain_one_owner").
    name = models.CharField(max_length=253)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="domains")
    verification_token = models.CharField(max_length=64, default=new_verification_token)
    owner_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="when this account proved ownership with its TXT token"
    )
    # Domains verified before the TXT challenge existed: owners until this moment without the TXT
    # record; after it, a missing record counts against them like any definitive failure.
    txt_deadline = models.DateTimeField(null=True, blank=True)
    txt_outcome = models.CharField(max_length=16, blank=True)
    txt_detail = models.TextField(blank=True)
    txt_failing_since = models.DateTimeField(null=True, blank=True)
    txt_warned_at = models.DateTimeField(null=True, blank=True)
    # Set when another account proved ownership first; the claim stays, for the user to see why.
    claim_closed_at = models.DateTimeField(null=True, blank=True)
    mx_verified_at = models.DateTimeField(null=True, blank=True)
    retention = models.CharField(max_length=16, choices=Retention.choices, default=Retention.RETAIN)
    encryption = models.CharField(max_length=8, choices=Encryption.choices, default=Encryption.NONE)
    encryption_key = models.TextField(blank=True, help_text="ASCII-armoured OpenPGP key or PEM certificate")
    protect_subject = models.BooleanField(
        default=False, help_text="encrypted domains: replace the outer Subject with '...'"
    )
    catch_all = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last MX check, and the grace period before a verified domain loses IMAP (DESIGN §7).
    mx_checked_at = models.DateTimeField(null=True, blank=True)
    mx_outcome = models.CharField(max_length=16, blank=True)
    mx_detail = models.TextField(blank=True)
    mx_failing_since = models.DateTimeField(null=True, blank=True)
    mx_warned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "owner"], name="domain_one_claim_per_account"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(owner_verified_at__isnull=False), name="domain_one_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def txt_value(self) -> str:
        return TXT_PREFIX + self.verification_token

    @property
    def ownership(self) -> str:
        if self.owner_verified_at is not None:
            return self.Ownership.VERIFIED
        return self.Ownership.CLOSED if self.claim_closed_at is not None else self.Ownership.PENDING

    def imap_refusal(self) -> str | None:
        """Why IMAP is off for this domain, in words, or None when it is on."""
        if self.owner_verified_at is None and self.claim_closed_at is not None:
            return f"another MailKite account proved ownership of the domain {self.name} first"
        if self.owner_verified_at is None:
            missing_mx = "is not MX-verified yet and " if self.mx_verified_at is None else ""
            return f"the domain {self.name} {missing_mx}lacks this account's TXT record {self.txt_value}"
        if self.mx_verified_at is None:
            return f"the domain {self.name} is not MX-verified yet"
        if self.retention == self.Retention.PASSTHROUGH:
            return f"the domain {self.name} is on zero-retention, so no mail is stored"
        return None


class Mailbox(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="mailboxes")
    local_part = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["domain", "local_part"], name="mailbox_unique_address")
        ]
        verbose_name_plural = "mailboxes"

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    def __str__(self) -> str:
        return self.address


class Folder(models.Model):
    INBOX = "INBOX"
    SENT = "Sent"
    NAMES = (INBOX, SENT)

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=16, choices=[(n, n) for n in NAMES])
    uidvalidity = models.PositiveBigIntegerField()
    uidnext = models.PositiveBigIntegerField(default=1)
    # Starts at 1: HIGHESTMODSEQ 0 sends some clients into a resync loop (IMAP-NOTES 12).
    highest_modseq = models.PositiveBigIntegerField(default=1)
    message_count = models.PositiveIntegerField(default=0)
    total_size = models.PositiveBigIntegerField(default=0)
    # Every keyword ever stored in the folder, space-separated, grow-only (as Dovecot's keyword
    # list is): IMAP's FLAGS response, and the per-folder keyword cap (imapd.limits).
    keywords = models.TextField(default="", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailbox", "name"], name="folder_unique_name")]

    def __str__(self) -> str:
        return f"{self.mailbox} {self.name}"


class Blob(models.Model):
    """Raw RFC 5322 bytes, named by their SHA-256; the file is written before this row."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256


class Message(models.Model):
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="messages")
    uid = models.PositiveBigIntegerField()
    modseq = models.PositiveBigIntegerField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="messages")
    internal_date = models.DateTimeField()
    internal_date_offset = models.SmallIntegerField(default=0, help_text="minutes east of UTC")
    size = models.PositiveBigIntegerField()
    flags = models.PositiveSmallIntegerField(default=0)
    # Space-separated keyword atoms, sorted: plain text so SEARCH KEYWORD is a portable LIKE.
    keywords = models.TextField(default="", blank=True)
    crlf_normalised = models.BooleanField(
        default=False, help_text="bare LF line endings were rewritten to CRLF at ingest"
    )
    # Precomputed at ingest so FETCH and SEARCH never re-parse the message (SEARCH's decoded text
    # lives in MessageText).
    envelope = models.BinaryField()
    body = models.BinaryField(help_text="BODY: BODYSTRUCTURE without extension data")
    bodystructure = models.BinaryField()
    header_length = models.PositiveIntegerField()
    parts = models.JSONField(default=dict, help_text="MIME part byte ranges by section")
    message_id = models.CharField(max_length=998, blank=True)
    sent_date = models.DateField(null=True, blank=True, help_text="the Date header's own calendar date")
    delivered_to = models.CharField(max_length=320, blank=True)
    # SORT and THREAD keys (RFC 5256, RFC 5957), computed at ingest by mail.sortkeys; text keys are
    # stored i;ascii-casemapped. sort_date is the Date header's moment (None: use internal_date).
    sort_subject = models.TextField(blank=True, default="", help_text="base subject (RFC 5256 §2.1)")
    sort_from = models.TextField(blank=True, default="")
    sort_to = models.TextField(blank=True, default="")
    sort_cc = models.TextField(blank=True, default="")
    sort_display_from = models.TextField(blank=True, default="")
    sort_display_to = models.TextField(blank=True, default="")
    sort_date = models.DateTimeField(null=True, blank=True)
    thread_refs = models.TextField(
        blank=True, default="", help_text="References message-ids (else In-Reply-To's), space-separated"
    )
    source_key = models.CharField(
        max_length=200, blank=True, help_text="what an import called this message, for resuming"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["folder", "uid"], name="message_unique_uid")]
        indexes = [
            models.Index(fields=["folder", "modseq"], name="message_folder_modseq"),
            models.Index(fields=["folder", "source_key"], name="message_folder_source"),
        ]

    def __str__(self) -> str:
        return f"{self.folder} uid {self.uid}"


class MessageText(models.Model):
    """A message's decoded, searchable text: immutable, written once at ingest with its Message.

    It lives apart from Message because a flag change (STORE) rewrites the message row, and on
    PostgreSQL that UPDATE also writes modseq, which is indexed, so the new row version cannot be a
    HOT (heap-only) update: PostgreSQL adds an entry for it to every index of the table. With the
    eight GIN trigram indexes SEARCH needs on these columns on the same table, one single-row flag
    UPDATE took 0.5-3 ms, and 70 ms when it had to flush a GIN pending list, against 0.05-0.36 ms
    without them; all of it under the folder's row lock, which every flag change of the folder waits
    for (STORE p95 was ~105 ms at 10 clients). Here the trigram indexes sit on a table that a flag
    change never touches, and a STORE's UPDATE only writes mail_message's B-tree indexes.
    """

    message = models.OneToOneField(Message, primary_key=True, on_delete=models.CASCADE, related_name="text")
    subject = models.TextField(blank=True)
    from_text = models.TextField(blank=True)
    to_text = models.TextField(blank=True)
    cc_text = models.TextField(blank=True)
    bcc_text = models.TextField(blank=True)
    headers_text = models.TextField(blank=True, help_text="every header, decoded, one per line")
    body_text = models.TextField(blank=True, help_text="decoded text parts, for SEARCH BODY/TEXT")

    def __str__(self) -> str:
        return f"text of message {self.pk}"


class Expunged(models.Model):
    """A tombstone for a message removed by retention or account deletion (never by IMAP)."""

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="expunged")
    uid = models.PositiveBigIntegerField()
    modseq = models.PositiveBigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["folder", "modseq"], name="expunged_folder_modseq")]
        verbose_name_plural = "expunged"
