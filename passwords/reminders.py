"""Expiry reminders: the owner hears 7 days and 1 day before an app-password stops (issue 15.1).

A periodic task (passwords.tasks.send_expiry_reminders, hourly in celery beat and run_periodic)
emails each threshold once: the row's `expiry_reminded_days` is claimed with one conditional
UPDATE before the mail goes, so two workers running the task at once send it once, and a
failed send is not retried (a missed reminder is better than a reminder storm).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from passwords import policy
from passwords.models import AppPassword

log = logging.getLogger("passwords.reminders")


def _due(threshold: int, now: datetime) -> list[AppPassword]:
    not_yet = Q(expiry_reminded_days__isnull=True) | Q(expiry_reminded_days__gt=threshold)
    return list(
        AppPassword.objects.select_related("owner", "mailbox__domain")
        .filter(revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + timedelta(days=threshold))
        .filter(not_yet)
    )


def _claim(row: AppPassword, threshold: int) -> bool:
    """Record this threshold as sent, unless someone else did: True when this caller sends it."""
    not_yet = Q(expiry_reminded_days__isnull=True) | Q(expiry_reminded_days__gt=threshold)
    return bool(AppPassword.objects.filter(Q(pk=row.pk) & not_yet).update(expiry_reminded_days=threshold))


def _body(row: AppPassword, now: datetime) -> tuple[str, str]:
    assert row.expires_at is not None
    left = policy.describe_remaining(row.expires_at, now=now)
    subject = f"Your app-password “{row.label}” {left}"
    body = (
        f"The app-password “{row.label}” ({row.display}) for {row.mailbox.address} {left}, "
        f"at {row.expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
        "After that, mail apps using it can no longer log in. To keep reading mail, create a new "
        "app-password in Settings > IMAP and enter it in the app.\n"
    )
    return subject, body


def send_expiry_reminders(*, now: datetime | None = None) -> int:
    """Email every owner whose password crossed a reminder threshold; returns how many were sent.
    Thresholds go smallest first, so a password found inside 1 day gets one mail, not two."""
    now = now or timezone.now()
    sent = 0
    for threshold in sorted(policy.REMINDER_DAYS):
        for row in _due(threshold, now):
            if not _claim(row, threshold):
                continue
            address = row.owner.email
            if not address:
                log.warning("app-password %s: owner has no email address for the expiry reminder", row.key_id)
                continue
            subject, body = _body(row, now)
            send_mail(subject, body, None, [address], fail_silently=True)
            sent += 1
    return sent
