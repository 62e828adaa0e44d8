"""Celery tasks of the credentials app (celery beat; `manage.py run_periodic` without a broker)."""

from __future__ import annotations

from celery import shared_task

from passwords import reminders


@shared_task
def send_expiry_reminders() -> int:
    return reminders.send_expiry_reminders()
