"""The dashboard: Settings → IMAP, Settings → API keys, client set-up and Thunderbird autoconfig.

Views stay thin: they read what a page shows, hand writes to passwords.service, and turn its
Invalid errors into form errors. A new secret lives only in the one response that shows it:
never in a URL, a session, a message or a log, and that response is never cached (no-store), so
reloading or going back cannot show it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.cache import cache_control
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from mailkite.mail import services as mail_services
from mailkite.mail.models import Domain, Mailbox
from passwords import clientsetup, reauth, service
from passwords.forms import ApiKeyForm, EditLimitsForm, MailboxForm, NewAppPasswordForm
from passwords.models import ApiKey, AppPassword, AuditEntry

AUDIT_ROWS = 20


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    note: str = ""
    copy: bool = True


def _actor(request: HttpRequest) -> service.Actor:
    return service.Actor(
        user=request.user,
        via=AuditEntry.Via.DASHBOARD,
        ip=reauth.client_ip(request),
        reauthenticated_at=reauth.reauthenticated_at(request),
    )


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def connection_settings(address: str | None) -> list[Setting]:
    """What a mail client needs, from settings: the seed's table."""
    config = settings.MAILKITE
    rows = [
        Setting("Server", config.imap_public_host),
        Setting(
            "Port", str(config.imap_public_port), "SSL/TLS from the first byte (implicit TLS); no STARTTLS"
        ),
        Setting(
            "Username", address or "your full email address", "Any username works; your address is clearest"
        ),
        Setting(
            "Password", "an app-password (mk_imap_…)", "Never your account password or an API key", copy=False
        ),
        Setting(
            "Folders",
            "INBOX and Sent",
            "Read, search and flag; moving, deleting and uploading are off",
            False,
        ),
    ]
    if config.smtp_submission_host:
        security = "SSL/TLS" if clientsetup._smtp_socket_type() == "SSL" else "STARTTLS"
        rows.append(
            Setting(
                "Outgoing (SMTP)",
                f"{config.smtp_submission_host}:{config.smtp_submission_port}",
                f"{security}, same username and app-password",
            )
        )
    return rows


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("imap-settings")


@login_required
@require_GET
def imap_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    domains = [service.describe_domain(d) for d in Domain.objects.filter(owner_id=user.pk).order_by("name")]
    eligible = {status.domain.pk for status in domains if status.eligible}
    mailboxes = (
        Mailbox.objects.filter(domain__owner_id=user.pk)
        .select_related("domain")
        .annotate(active_passwords=Count("app_passwords", filter=Q(app_passwords__revoked_at__isnull=True)))
        .order_by("domain__name", "local_part")
    )
    passwords = (
        AppPassword.objects.filter(owner_id=user.pk).select_related("mailbox__domain").order_by("-created_at")
    )
    active = [p for p in passwords if p.status == "active"]
    first_address = next((m.address for m in mailboxes if m.domain_id in eligible), None)
    return render(
        request,
        "passwords/imap_settings.html",
        {
            "connection": connection_settings(first_address),
            "domains": domains,
            "mailboxes": [(m, m.domain_id in eligible) for m in mailboxes],
            "can_add_mailbox": bool(eligible),
            "can_create": any(m.domain_id in eligible for m in mailboxes),
            "active": active,
            "expired": [p for p in passwords if p.status == "expired"],
            "revoked": [p for p in passwords if p.revoked_at is not None],
            "audit": AuditEntry.objects.filter(owner_id=user.pk).select_related("actor")[:AUDIT_ROWS],
        },
    )


@sensitive_variables("secret")
def _created_page(request: HttpRequest, row: AppPassword, secret: str) -> HttpResponse:
    address = row.mailbox.address
    context: dict[str, Any] = {
        "row": row,
        "secret": secret,
        "connection": connection_settings(address),
        "qr_svg": mark_safe(_qr_svg(secret)),  # our own token, drawn by qrcode: no user input
    }
    if clientsetup.available():
        context["mobileconfig_url"] = clientsetup.mobileconfig_data_url(
            address=address, label=row.label, public_id=row.key_id, password=secret
        )
        context["mobileconfig_name"] = clientsetup.filename(address)
    return _no_store(render(request, "passwords/app_password_created.html", context))


def _qr_svg(text: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg: str = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code of the app-password" ', 1)


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def app_password_new(request: HttpRequest) -> HttpResponse:
    form = NewAppPasswordForm(
        request.POST or None, request=request, initial={"label": request.GET.get("label", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            row, secret = service.user_create_app_password(
                actor=_actor(request),
                mailbox=form.cleaned_data["mailbox"],
                label=form.cleaned_data["label"],
                **form.limits(),
            )
        except service.Invalid as error:
            form.add_service_errors(error)
        except service.NotAllowed as error:
            form.add_error("password", error.reason)
        else:
            return _created_page(request, row, secret)
    response = render(request, "passwords/app_password_new.html", {"form": form})
    return _no_store(response)


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def app_password_limits(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an active password's expiry, networks or scope (shorter and narrower freely)."""
    row = get_object_or_404(AppPassword.objects.select_related("mailbox__domain"), pk=pk, owner=request.user)
    if row.status != "active":
        messages.info(request, f"“{row.label}” is {row.status}; create a new app-password instead.")
        return redirect("imap-settings")
    form = EditLimitsForm(request.POST or None, request=request, row=row)
    if request.method == "POST" and form.is_valid():
        try:
            service.user_update_app_password(
                actor=_actor(request),
                app_password=row,
                **form.limits(),
            )
        except service.Invalid as error:
            form.add_service_errors(error)
        except service.NotAllowed as error:
            form.add_error("password", error.reason)
        else:
            messages.success(
                request, f"Saved the limits of “{row.label}”. Mail apps outside them are disconnected."
            )
            return redirect("imap-settings")
    return _no_store(render(request, "passwords/app_password_limits.html", {"form": form, "row": row}))


@login_required
@require_http_methods(["GET", "POST"])
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(AppPassword.objects.select_related("mailbox__domain"), pk=pk, owner=request.user)
    if request.method == "POST":
        if service.user_revoke_app_password(actor=_actor(request), app_password=row):
            messages.success(request, f"Revoked “{row.label}”. Mail apps using it have been disconnected.")
        else:
            messages.info(request, f"“{row.label}” was already revoked.")
        return redirect("imap-settings")
    return render(request, "passwords/app_password_revoke.html", {"row": row})


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_new(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox = service.user_add_mailbox(
                actor=_actor(request),
                domain=form.cleaned_data["domain"],
                local_part=form.cleaned_data["local_part"],
            )
        except service.Invalid as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Added {mailbox.address}. Create an app-password for it below.")
            return redirect("imap-settings")
    return render(request, "passwords/mailbox_new.html", {"form": form})


@login_required
@require_GET
def mailbox_profile(request: HttpRequest, pk: int) -> HttpResponse:
    """The password-less .mobileconfig: Mail asks for the app-password while installing it."""
    if not clientsetup.available():
        raise Http404("Client profiles need an outgoing SMTP server, which is not configured.")
    mailbox = get_object_or_404(service.eligible_mailboxes(owner=request.user), pk=pk)
    body = clientsetup.mobileconfig(
        address=mailbox.address, label=mailbox.address, public_id=f"mailbox-{mailbox.pk}", password=None
    )
    response = HttpResponse(body, content_type=clientsetup.MOBILECONFIG_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{clientsetup.filename(mailbox.address)}"'
    return response


@login_required
@require_GET
def client_setup(request: HttpRequest) -> HttpResponse:
    mailboxes = list(service.eligible_mailboxes(owner=request.user))
    address = mailboxes[0].address if mailboxes else None
    config = settings.MAILKITE
    return render(
        request,
        "passwords/client_setup.html",
        {
            "connection": connection_settings(address),
            "mailboxes": mailboxes,
            "address": address or "you@your-domain.example",
            "domain": address.split("@")[1] if address else "your-domain.example",
            "imap_host": config.imap_public_host,
            "imap_port": config.imap_public_port,
            "smtp_host": config.smtp_submission_host,
            "smtp_port": config.smtp_submission_port,
            "autoconfig_url": request.build_absolute_uri("/.well-known/autoconfig/mail/config-v1.1.xml"),
        },
    )


@login_required
@require_GET
def api_keys(request: HttpRequest) -> HttpResponse:
    keys = ApiKey.objects.filter(owner_id=request.user.pk).order_by("-created_at")
    return render(
        request,
        "passwords/api_keys.html",
        {
            "active": [k for k in keys if k.revoked_at is None],
            "revoked": [k for k in keys if k.revoked_at is not None],
            "docs_url": "/api/docs/",
        },
    )


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def api_key_new(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            row, secret = service.user_create_api_key(
                actor=_actor(request),
                label=form.cleaned_data["label"],
                scopes=form.cleaned_data["scopes"],
            )
        except service.Invalid as error:
            form.add_service_errors(error)
        except service.NotAllowed as error:
            form.add_error("password", error.reason)
        else:
            page = render(request, "passwords/api_key_created.html", {"row": row, "secret": secret})
            return _no_store(page)
    return _no_store(render(request, "passwords/api_key_new.html", {"form": form}))


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(ApiKey, pk=pk, owner=request.user)
    if request.method == "POST":
        if service.user_revoke_api_key(actor=_actor(request), api_key=row):
            messages.success(request, f"Revoked the API key “{row.label}”. Requests that carry it now fail.")
        else:
            messages.info(request, f"The API key “{row.label}” was already revoked.")
        return redirect("api-keys")
    return render(request, "passwords/api_key_revoke.html", {"row": row})


@require_GET
@cache_control(public=True, max_age=3600)
def autoconfig(request: HttpRequest) -> HttpResponse:
    """Thunderbird's config-v1.1.xml (CLIENT-SETUP §4.2): public, static, no secrets."""
    if not clientsetup.available():
        raise Http404("Automatic set-up needs an outgoing SMTP server, which is not configured.")
    domain = None
    address = request.GET.get("emailaddress", "")
    if address:
        try:
            _, domain = mail_services.split_address(address)
        except mail_services.InvalidAddress:
            domain = None  # never echo what we cannot vouch for
    return HttpResponse(clientsetup.autoconfig_xml(email_domain=domain), content_type="text/xml")


def locked_out(request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any) -> HttpResponse:
    """django-axes' answer after too many wrong passwords: a cool-off, said in words."""
    minutes = settings.MAILKITE.login_cooloff_minutes
    detail = (
        f"Too many wrong passwords from your address, for this account or across accounts. Wait {minutes} "
        "minutes and try again, or reset your password."
    )
    if request.path.startswith("/api/"):
        from passwords.api.problems import problem_response

        return problem_response(request, status=429, code="too-many-attempts", detail=detail)
    response = render(
        request, "registration/locked_out.html", {"detail": detail, "minutes": minutes}, status=429
    )
    response["Retry-After"] = str(minutes * 60)
    return response
