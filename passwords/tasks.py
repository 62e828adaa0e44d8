"""Celery tasks of the credentials app: new-login alerts and login-history pruning (beat schedule
in mailkite/settings.py; `manage.py run_periodic` runs them without a broker)."""

from __future__ import annotations

from celery import shared_task

from passwords import alerts, logins


@shared_task
def send_login_alerts() -> int:
    """Email the owners of passwords used from a new network or client since the last run."""
    return alerts.send_pending()


@shared_task
def prune_login_history() -> int:
    """Delete login history older than LOGIN_HISTORY_DAYS."""
    return logins.prune()
