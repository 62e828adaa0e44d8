"""Credentials: IMAP app-passwords and REST API keys.

Only an argon2id hash of the whole secret is stored, behind the public, indexed key id.
Rows are never deleted: revoking sets revoked_at, so the audit trail and last-used stay.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from mailkite.mail.models import Mailbox
from passwords.policy import READ_AND_FLAG, READ_ONLY, SCOPE_CHOICES


class Credential(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100)
    key_id = models.CharField(max_length=10, unique=True)
    hash = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __str__(self) -> str:
        return f"{self.label} ({self.key_id})"


class AppPassword(Credential):
    PREFIX = "mk_imap_"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_passwords"
    )
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="app_passwords")
    last_used_client = models.CharField(max_length=100, blank=True)
    # The limits of passwords/policy.py: until when, from where, and how much (issue 15).
    expires_at = models.DateTimeField(null=True, blank=True, help_text="logins stop at this moment")
    allowed_networks = models.JSONField(
        default=list, blank=True, help_text="addresses or CIDR blocks logins may come from; empty: anywhere"
    )
    scope = models.CharField(max_length=16, choices=SCOPE_CHOICES, default=READ_AND_FLAG)
    # The smallest policy.REMINDER_DAYS threshold already emailed about (or passed at creation),
    # so the periodic task sends each reminder once.
    expiry_reminded_days = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "label"],
                condition=models.Q(revoked_at__isnull=True),
                name="app_password_unique_active_label",
            )
        ]

    @property
    def display(self) -> str:
        return f"{self.PREFIX}{self.key_id}_…"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        """active, expired or revoked: what the lists show."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired() else "active"

    @property
    def read_only(self) -> bool:
        return self.scope == READ_ONLY


class ApiKey(Credential):
    PREFIX = "mk_api_"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    # A list of passwords.scopes names, e.g. ["app-passwords:read", "domains:read"].
    scopes = models.JSONField(default=list, help_text="what the key may do (passwords/scopes.py)")

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def display(self) -> str:
        return f"{self.PREFIX}{self.key_id}_…"


class AuditEntry(models.Model):
    """Who created or revoked which credential (or added which address), when, and through what.

    Rows copy the label and public identifier, so the entry still reads right after the credential
    is gone; never the secret or its hash.
    """

    class Action(models.TextChoices):
        APP_PASSWORD_CREATED = "app_password.created", "created the app-password"
        APP_PASSWORD_REVOKED = "app_password.revoked", "revoked the app-password"
        APP_PASSWORD_CHANGED = "app_password.changed", "changed the limits of the app-password"
        API_KEY_CREATED = "api_key.created", "created the API key"
        API_KEY_REVOKED = "api_key.revoked", "revoked the API key"
        MAILBOX_CREATED = "mailbox.created", "added the address"

    class Via(models.TextChoices):
        DASHBOARD = "dashboard", "dashboard"
        API = "api", "REST API"
        ADMIN = "admin", "Django admin"
        CLI = "cli", "command line"
        # A secret scanner's signed report that the credential was found in public (passwords/leaks.py).
        LEAK_REPORT = "leak-report", "leak report"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    via = models.CharField(max_length=16, choices=Via.choices)
    target = models.CharField(max_length=200, help_text="the label, or the address")
    identifier = models.CharField(
        max_length=40, blank=True, help_text="public part only, e.g. mk_imap_AbC123xYz9_…"
    )
    api_key_id = models.CharField(max_length=10, blank=True, help_text="the API key that made the request")
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_action_display()} {self.target}"


# Login history and new-login alerts live in their own module (issue 15, points 4 and 5).
from passwords.models_logins import LoginAlertPreference, LoginRecord, LoginSighting  # noqa: E402

__all__ = ["ApiKey", "AppPassword", "AuditEntry", "LoginAlertPreference", "LoginRecord", "LoginSighting"]
