"""Dashboard pages of issue 15.4-15.5: one password's login history, the new-login alert switch
(Settings → IMAP), and the revoke link of an alert email.

The revoke link works without a dashboard session: its signed token names the password, and the
page asks for the owner's account password (django.contrib.auth.authenticate with the request,
so django-axes counts wrong guesses as at sign-in). The revocation goes through the audited
service path, like the dashboard's Revoke button.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from passwords import alerts, reauth, service
from passwords.logins import REASONS
from passwords.models import AppPassword, AuditEntry, LoginRecord

HISTORY_PAGE = 50


@login_required
@require_GET
def app_password_logins(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(AppPassword.objects.select_related("mailbox"), pk=pk, owner=request.user)
    rows = LoginRecord.objects.filter(app_password=row).order_by("-at", "-id")
    page = Paginator(rows, HISTORY_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "passwords/app_password_logins.html",
        {"row": row, "page": page, "reasons": REASONS, "history_days": settings.MAILKITE.login_history_days},
    )


@login_required
@require_POST
def login_alerts(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("new_login_alerts") == "on"
    alerts.set_alerts_enabled(request.user, enabled)
    if enabled:
        messages.success(
            request, "New-login alerts are on: we email you when a password is used from a new place."
        )
    else:
        messages.info(request, "New-login alerts are off.")
    return redirect("imap-settings")


class AccountPasswordForm(forms.Form):
    password = forms.CharField(
        label="Your account password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="To confirm it is you: the link alone is not enough.",
    )

    def __init__(self, *args: Any, request: HttpRequest, owner: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.request = request
        self.owner = owner

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        checked = authenticate(self.request, username=self.owner.get_username(), password=password)
        if checked is None or checked.pk != self.owner.pk:
            raise forms.ValidationError("That is not your account password.", code="reauth")
        return password


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def revoke_from_alert(request: HttpRequest, token: str) -> HttpResponse:
    try:
        row = alerts.password_for_token(token)
    except alerts.BadLink:
        return render(request, "passwords/alert_link_invalid.html", status=400)
    form = AccountPasswordForm(request.POST or None, request=request, owner=row.owner)
    if request.method == "POST" and form.is_valid():
        actor = service.Actor(user=row.owner, via=AuditEntry.Via.DASHBOARD, ip=reauth.client_ip(request))
        if service.user_revoke_app_password(actor=actor, app_password=row):
            messages.success(request, f"Revoked “{row.label}”. Mail apps using it have been disconnected.")
        else:
            messages.info(request, f"“{row.label}” was already revoked.")
        return redirect("imap-settings") if request.user.is_authenticated else redirect("login")
    response = render(request, "passwords/alert_revoke.html", {"row": row, "form": form})
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response
