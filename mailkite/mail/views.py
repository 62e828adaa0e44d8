"""Settings → Domains: add a domain, see the TXT and MX records to publish, verify now, switch retention,
set the encryption key, delete a zero-retention domain's stored mail (DESIGN §7, docs/domains.md).

Thin views over mailkite.mail.domains; every change a user can regret asks for confirmation and
the account password, re-entered (retention, deleting mail, the encryption key).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from mailkite.mail import domains, encryption
from mailkite.mail.forms import ConfirmForm, DomainForm, EncryptionForm
from mailkite.mail.models import Domain
from passwords import reauth, service
from passwords.forms import ReauthForm
from passwords.models import AuditEntry


def _owned(request: HttpRequest, name: str) -> Domain:
    return get_object_or_404(Domain.objects.select_related("owner"), name=name, owner=request.user)


def _authorised(request: HttpRequest, form: ReauthForm, what: str) -> bool:
    """The password the form just confirmed stamps the session; the service rule decides."""
    actor = service.Actor(
        user=request.user,
        via=AuditEntry.Via.DASHBOARD,
        ip=reauth.client_ip(request),
        reauthenticated_at=reauth.reauthenticated_at(request),
    )
    try:
        service.authorise_domain_change(actor=actor, what=what)
    except service.NotAllowed as error:
        form.add_error("password", error.reason)
        return False
    return True


@login_required
@require_http_methods(["GET", "POST"])
def domain_list(request: HttpRequest) -> HttpResponse:
    form = DomainForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            domain = domains.add_domain(owner=request.user, name=form.cleaned_data["name"])
        except domains.DomainError as error:
            form.add_error(error.field, str(error))
        else:
            messages.success(
                request, f"Added {domain.name}. Publish the TXT and MX records below, then verify."
            )
            return redirect("domains")
    rows = [
        {
            "domain": domain,
            "record": domains.mx_record(domain),
            "txt_record": domains.txt_record(domain),
            "txt_alternative": domains.txt_record(domain, at_subdomain=True),
            "refusal": domain.imap_refusal(),
        }
        for domain in Domain.objects.filter(owner_id=request.user.pk).order_by("name")
    ]
    return render(request, "domains/list.html", {"rows": rows, "form": form})


@login_required
@require_POST
def domain_verify(request: HttpRequest, name: str) -> HttpResponse:
    domain = _owned(request, name)
    result = domains.verify(domain)
    on = result.outcome.value == "verified" and domain.owner_verified_at is not None
    messages.add_message(
        request, messages.SUCCESS if on else messages.WARNING, f"{domain.txt_detail} {domain.mx_detail}"
    )
    return redirect("domains")


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def domain_retention(request: HttpRequest, name: str) -> HttpResponse:
    domain = _owned(request, name)
    target = (
        Domain.Retention.RETAIN
        if domain.retention == Domain.Retention.PASSTHROUGH
        else Domain.Retention.PASSTHROUGH
    )
    form = ConfirmForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid() and _authorised(request, form, "change retention"):
        domains.set_retention(domain, target)
        messages.success(request, f"{domain.name} is now {domain.get_retention_display().lower()}.")
        return redirect("domains")
    return render(request, "domains/retention.html", {"domain": domain, "target": target, "form": form})


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def domain_purge(request: HttpRequest, name: str) -> HttpResponse:
    domain = _owned(request, name)
    form = ConfirmForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid() and _authorised(request, form, "delete stored mail"):
        try:
            count = domains.purge_mail(domain)
        except ValueError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Deleted {count} stored message(s) of {domain.name}.")
        return redirect("domains")
    return render(request, "domains/purge.html", {"domain": domain, "form": form})


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def domain_encryption(request: HttpRequest, name: str) -> HttpResponse:
    domain = _owned(request, name)
    initial = {
        "encryption": domain.encryption,
        "key": domain.encryption_key,
        "protect_subject": domain.protect_subject,
    }
    form = EncryptionForm(request.POST or None, initial=initial, request=request)
    if (
        request.method == "POST"
        and form.is_valid()
        and _authorised(request, form, "change the encryption key")
    ):
        try:
            described = domains.set_encryption(
                domain,
                kind=form.cleaned_data["encryption"],
                key=form.cleaned_data["key"],
                protect_subject=form.cleaned_data["protect_subject"],
            )
        except encryption.InvalidKey as error:
            form.add_error("key", str(error))
        else:
            messages.success(
                request,
                f"New mail for {domain.name} is encrypted to {described}."
                if described
                else f"New mail for {domain.name} is stored unencrypted.",
            )
            return redirect("domains")
    return render(request, "domains/encryption.html", {"domain": domain, "form": form})
