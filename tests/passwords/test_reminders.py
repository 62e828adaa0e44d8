"""Expiry reminders (issue 15.1): 7 days and 1 day before, each once, through the beat task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from passwords import reminders, service, tasks
from passwords.models import AppPassword
from tests.conftest import make_account

pytestmark = pytest.mark.django_db


def limited(account, label: str, expires: str) -> AppPassword:
    row, _ = service.user_create_app_password(
        actor=service.command_line(), mailbox=account.mailbox, label=label, expires=expires
    )
    return row


def test_each_reminder_is_sent_once_at_its_threshold():
    account = make_account()
    row = limited(account, "Phone", "30")
    assert row.expiry_reminded_days is None
    assert tasks.send_expiry_reminders.apply().get() == 0  # 30 days away: nothing yet
    assert row.expires_at is not None
    eight_days_before = row.expires_at - timedelta(days=8)
    assert reminders.send_expiry_reminders(now=eight_days_before) == 0
    six_days_before = row.expires_at - timedelta(days=6, hours=23)
    assert reminders.send_expiry_reminders(now=six_days_before) == 1
    assert reminders.send_expiry_reminders(now=six_days_before + timedelta(hours=1)) == 0
    [week] = mail.outbox
    assert week.to == [account.mailbox.domain.owner.email]
    assert week.subject == "Your app-password “Phone” expires in 7 days"
    assert "create a new app-password in Settings > IMAP" in week.body
    assert row.key_id in week.body and "mk_imap_" in week.body
    hours_before = row.expires_at - timedelta(hours=20)
    assert reminders.send_expiry_reminders(now=hours_before) == 1
    assert reminders.send_expiry_reminders(now=hours_before) == 0
    assert mail.outbox[1].subject == "Your app-password “Phone” expires in 20 hours"
    assert reminders.send_expiry_reminders(now=row.expires_at + timedelta(hours=1)) == 0
    assert len(mail.outbox) == 2


def test_a_seven_day_password_gets_only_the_one_day_reminder():
    account = make_account()
    row = limited(account, "Trip", "7")
    assert row.expiry_reminded_days == 7
    assert reminders.send_expiry_reminders() == 0
    assert row.expires_at is not None
    assert reminders.send_expiry_reminders(now=row.expires_at - timedelta(hours=3)) == 1
    assert [m.subject for m in mail.outbox] == ["Your app-password “Trip” expires in 3 hours"]


def test_revoked_and_unlimited_passwords_get_no_reminder():
    account = make_account()
    row = limited(account, "Gone", "7")
    service.user_revoke_app_password(actor=service.command_line(), app_password=row)
    assert reminders.send_expiry_reminders(now=timezone.now() + timedelta(days=6, hours=12)) == 0
    assert mail.outbox == []


def test_the_task_is_on_the_beat_schedule():
    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "passwords.tasks.send_expiry_reminders" in entries
