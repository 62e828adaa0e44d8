"""Celery tasks of the credentials app: new-login alerts, login-history pruning and expiry
reminders (beat schedule in mailkite/settings.py; `manage.py run_periodic` runs them without a broker)."""

from __future__ import annotations

from celery import shared_task

from passwords import alerts, logins, reminders


@shared_task
def send_login_alerts() -> int:
    """Email the owners of passwords used from a new network or client since the last run."""
    return alerts.send_pending()


@shared_task
def prune_login_history() -> int:
    """Delete login history older than LOGIN_HISTORY_DAYS."""
    return logins.prune()


@shared_task
def send_expiry_reminders() -> int:
    """Email owners 7 days and 1 day before an app-password expires."""
    return reminders.send_expiry_reminders()
