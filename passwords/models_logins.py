"""Login history and new-login alerts (issue 15, points 4 and 5).

LoginRecord: one row per login of a known app-password, successful or refused, kept for
LOGIN_HISTORY_DAYS and pruned by a periodic task. imapd writes them in batches (imapd.history).
LoginSighting: the networks (/24, /48) and client names a password has logged in from, one row
each, so "first time from here" is one unique constraint and an alert is claimed at most once.
LoginAlertPreference: a user's opt-out of new-login alert emails (no row: alerts on).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LoginRecord(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", "logged in"
        REFUSED = "refused", "refused"

    app_password = models.ForeignKey("passwords.AppPassword", on_delete=models.CASCADE, related_name="logins")
    at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    client_name = models.CharField(max_length=100, blank=True, help_text="from IMAP ID, if sent")
    tls_version = models.CharField(max_length=16, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=32, blank=True, help_text="why a refused login was refused")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["app_password", "-at", "-id"], name="login_record_by_password")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.outcome} {self.ip}"


class LoginSighting(models.Model):
    class Kind(models.TextChoices):
        NETWORK = "network", "network"
        CLIENT = "client", "client name"

    class Alert(models.TextChoices):
        BASELINE = "baseline", "first login: no alert"
        PENDING = "pending", "alert to send"
        SENT = "sent", "alert sent"
        SKIPPED = "skipped", "alerts turned off"

    app_password = models.ForeignKey(
        "passwords.AppPassword", on_delete=models.CASCADE, related_name="sightings"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=100)
    first_seen_at = models.DateTimeField()
    first_ip = models.GenericIPAddressField(null=True, blank=True)
    alert = models.CharField(max_length=8, choices=Alert.choices, db_index=True)
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app_password", "kind", "value"], name="login_sighting_once")
        ]


class LoginAlertPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_alert_preference"
    )
    new_login_alerts = models.BooleanField(default=True)
