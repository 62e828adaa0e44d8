"""New-login alerts (issue 15.5): an email the first time a password is used from a new network
(/24, /48) or a new client name, with a one-click revoke link that asks for the account password.

imapd never sends mail or enqueues tasks (DESIGN §6): its history writes leave PENDING sightings
(passwords.logins), and the periodic task passwords.tasks.send_login_alerts (every 30 s; eager in
run_periodic without a broker) emails them. Each sighting is claimed with one conditional UPDATE
(PENDING → SENT) before its email is built, so two workers, or a task that runs twice, send it
once; an email that then fails to send is not retried (a missed alert beats a duplicate, and the
history still shows the login). The sightings of one password that are claimed together go out
as one email. The email carries the label and the public identifier, never the secret.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from passwords.models import AppPassword, LoginAlertPreference, LoginSighting

log = logging.getLogger("mailkite.alerts")
REVOKE_SALT = "passwords.alerts.revoke"
REVOKE_LINK_DAYS = 14
BATCH = 200


class BadLink(Exception):
    """A revoke link that was altered, is too old, or names a password that is gone."""


def alerts_enabled(user: Any) -> bool:
    return not LoginAlertPreference.objects.filter(user=user, new_login_alerts=False).exists()


def set_alerts_enabled(user: Any, enabled: bool) -> None:
    LoginAlertPreference.objects.update_or_create(user=user, defaults={"new_login_alerts": enabled})


def revoke_token(app_password: AppPassword) -> str:
    """Signed (SECRET_KEY), bound to this password's id and key id; valid REVOKE_LINK_DAYS."""
    return signing.dumps({"p": app_password.pk, "k": app_password.key_id}, salt=REVOKE_SALT, compress=True)


def password_for_token(token: str) -> AppPassword:
    try:
        data = signing.loads(token, salt=REVOKE_SALT, max_age=REVOKE_LINK_DAYS * 86400)
    except signing.BadSignature:  # SignatureExpired is one
        raise BadLink() from None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int) or not isinstance(data.get("k"), str):
        raise BadLink()
    row = (
        AppPassword.objects.select_related("owner", "mailbox").filter(pk=data["p"], key_id=data["k"]).first()
    )
    if row is None:
        raise BadLink()
    return row


def send_pending(limit: int = BATCH) -> int:
    """Email the owners of pending sightings; returns how many emails went out."""
    pending = list(
        LoginSighting.objects.filter(alert=LoginSighting.Alert.PENDING)
        .select_related("app_password__owner", "app_password__mailbox")
        .order_by("id")[:limit]
    )
    claimed: dict[int, list[LoginSighting]] = defaultdict(list)
    for sighting in pending:
        password = sighting.app_password
        quiet = password.revoked_at is not None or not alerts_enabled(password.owner)
        outcome = LoginSighting.Alert.SKIPPED if quiet else LoginSighting.Alert.SENT
        won = LoginSighting.objects.filter(pk=sighting.pk, alert=LoginSighting.Alert.PENDING).update(
            alert=outcome, alerted_at=timezone.now()
        )
        if won and not quiet:
            claimed[password.pk].append(sighting)
    sent = 0
    for sightings in claimed.values():
        try:
            _send(sightings[0].app_password, sightings)
            sent += 1
        except Exception:  # an SMTP outage must not stop the other owners' alerts
            log.exception("new-login alert for app-password %s not sent", sightings[0].app_password_id)
    return sent


def _send(password: AppPassword, sightings: list[LoginSighting]) -> None:
    owner = password.owner
    if not owner.email:
        return
    link = settings.MAILKITE.dashboard_url + reverse("login-alert-revoke", args=[revoke_token(password)])
    context = {
        "provider_name": settings.MAILKITE.provider_name,
        "password": password,
        "networks": [s for s in sightings if s.kind == LoginSighting.Kind.NETWORK],
        "clients": [s for s in sightings if s.kind == LoginSighting.Kind.CLIENT],
        "when": min(s.first_seen_at for s in sightings),
        "revoke_url": link,
        "history_url": settings.MAILKITE.dashboard_url + reverse("app-password-logins", args=[password.pk]),
        "settings_url": settings.MAILKITE.dashboard_url + reverse("imap-settings"),
        "revoke_days": REVOKE_LINK_DAYS,
    }
    subject = f"New sign-in with your app-password “{password.label}”"
    text = render_to_string("passwords/email/new_login.txt", context)
    html = render_to_string("passwords/email/new_login.html", context)
    message = EmailMultiAlternatives(subject, text, None, [owner.email])
    message.attach_alternative(html, "text/html")
    message.send()
