"""Re-entering the account password ("sudo mode"), as Fastmail and GitHub ask before a new credential.

A correct re-entry stamps the session; the credential service accepts a stamp younger than
REAUTH_MINUTES. The check goes through django.contrib.auth.authenticate with the request, so
django-axes counts wrong guesses here exactly as at sign-in and cools the account off alike.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone

from passwords import clientip

SESSION_KEY = "mailkite_reauthenticated_at"


def confirm(request: HttpRequest, password: str) -> bool:
    """True, and the session stamped, if `password` is the signed-in user's account password."""
    user = request.user
    if not user.is_authenticated or not password:
        return False
    checked = authenticate(request, username=user.get_username(), password=password)
    if checked is None or checked.pk != user.pk:
        return False
    request.session[SESSION_KEY] = timezone.now().isoformat()
    return True


def reauthenticated_at(request: HttpRequest) -> datetime | None:
    raw = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The real client address (TRUSTED_PROXIES aware): see passwords.clientip."""
    return clientip.client_ip(request)
