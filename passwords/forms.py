"""Dashboard forms. They check shape and the re-entered account password; the rules (unique
labels, eligible mailboxes, who may do what) are the credential service's, whose Invalid errors
the views attach to these forms' fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest

from mailkite.mail.models import Domain, Mailbox
from passwords import policy, reauth, service
from passwords import scopes as api_scopes

LABEL_PRESETS = (
    "iPhone Mail",
    "iPad Mail",
    "Mac Mail",
    "Thunderbird",
    "Outlook",
    "Android",
    "mutt",
    "AI agent",
)


class ReauthForm(forms.Form):
    """A form whose last field is the account password, checked (and throttled) on submit."""

    password = forms.CharField(
        label="Your account password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="To confirm it is you, as for any new credential.",
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not reauth.confirm(self.request, password):
            raise forms.ValidationError("That is not your account password.", code="reauth")
        return password

    def add_service_errors(self, error: service.Invalid) -> None:
        for field, message in error.errors.items():
            self.add_error(field if field in self.fields else None, message)


class MailboxChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Mailbox) -> str:
        return obj.address


class AppPasswordForm(ReauthForm):
    label = forms.CharField(
        max_length=service.LABEL_MAX_LENGTH,
        help_text="Where it will be used, so you can tell it apart later: “Thunderbird on my laptop”.",
        widget=forms.TextInput(attrs={"list": "label-presets", "autocomplete": "off", "autofocus": True}),
    )
    mailbox = MailboxChoiceField(
        queryset=Mailbox.objects.none(),
        empty_label=None,
        help_text="The address this password opens (INBOX and Sent).",
    )
    field_order = ["label", "mailbox", "scope", "expires", "expires_on", "allowed_networks", "password"]

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, request=request, **kwargs)
        field = self.fields["mailbox"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = service.eligible_mailboxes(owner=request.user)

    label_presets = LABEL_PRESETS


class LimitsFields(forms.Form):
    """Expiry, allowed networks and scope (passwords/policy.py); the service reads the values, so
    these fields only carry text, and its Invalid errors land on them (expires_on for a date)."""

    scope = forms.ChoiceField(
        label="Access",
        choices=policy.SCOPE_CHOICES,
        initial=policy.READ_AND_FLAG,
        required=False,  # absent: read-and-flag, as before there was a choice
        widget=forms.RadioSelect,
        help_text="Read only suits backups and agents: reading never marks mail as read.",
    )
    expires = forms.ChoiceField(
        label="Expires",
        choices=policy.EXPIRY_CHOICES,
        initial=policy.NEVER,
        required=False,  # absent: never
        help_text="After this, mail apps using it can no longer log in. "
        "You get an email 7 days and 1 day before.",
    )
    expires_on = forms.DateField(
        label="Expiry date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="With “On a date”: the password stops at 00:00 UTC that day.",
        error_messages={"invalid": "Enter the date as YYYY-MM-DD."},
    )
    allowed_networks = forms.CharField(
        label="Allowed networks (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 2, "spellcheck": "false", "placeholder": "192.0.2.0/24, 2001:db8::/48"}
        ),
        help_text="Addresses or networks (IPv4 or IPv6, CIDR) it may log in from, separated by commas "
        "or lines. Empty: anywhere.",
    )

    def expiry(self) -> str | None:
        """The service's spelling of the chosen expiry: days, an ISO date, or never."""
        choice = self.cleaned_data.get("expires")
        if choice == "date":
            day = self.cleaned_data.get("expires_on")
            return day.isoformat() if day else None
        return choice or None

    def networks(self) -> list[str]:
        return policy.split_networks(self.cleaned_data.get("allowed_networks") or "")

    def limits(self) -> service.LimitArguments:
        """The limits as the service's keyword arguments (expires, allowed_networks, scope)."""
        return {
            "expires": self.expiry(),
            "allowed_networks": self.networks(),
            "scope": self.cleaned_data["scope"] or None,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("expires") == "date" and not data.get("expires_on") and "expires_on" not in self.errors:
            self.add_error("expires_on", "Choose the date it should stop working.")
        return data

    def add_limit_errors(self, error: service.Invalid) -> None:
        for name, message in error.errors.items():
            if name == "expires" and self.cleaned_data.get("expires") == "date":
                name = "expires_on"
            self.add_error(name if name in self.fields else None, message)


class NewAppPasswordForm(AppPasswordForm, LimitsFields):
    """The create form: label, address, the three limits, and the account password."""

    def add_service_errors(self, error: service.Invalid) -> None:
        self.add_limit_errors(error)


class EditLimitsForm(LimitsFields, ReauthForm):
    """Change an active password's limits. Sooner, narrower or read-only need nothing more; the
    account password is asked only to widen a limit (the service decides which it is)."""

    field_order = ["scope", "expires", "expires_on", "allowed_networks", "password"]

    def __init__(self, *args: Any, row: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, request=request, **kwargs)
        self.row = row
        password = self.fields["password"]
        password.required = False
        password.help_text = "Only needed for a later expiry, more networks or flag rights back."
        expires = self.fields["expires"]
        assert isinstance(expires, forms.ChoiceField)
        expires.choices = [("keep", "Keep as it is"), *policy.EXPIRY_CHOICES]
        expires.initial = "keep"
        self.fields["scope"].initial = row.scope
        self.fields["allowed_networks"].initial = ", ".join(row.allowed_networks)

    def clean_password(self) -> str:
        password: str = self.cleaned_data.get("password") or ""
        return super().clean_password() if password else ""

    def expiry(self) -> str | None:
        return None if self.cleaned_data.get("expires") == "keep" else super().expiry()

    def add_service_errors(self, error: service.Invalid) -> None:
        self.add_limit_errors(error)


class DomainChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Domain) -> str:
        return f"@{obj.name}"


class MailboxForm(forms.Form):
    local_part = forms.CharField(
        label="Address",
        max_length=64,
        help_text="The part before the @, such as “agent” or “billing”.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "spellcheck": "false"}),
    )
    domain = DomainChoiceField(queryset=Domain.objects.none(), empty_label=None, label="Domain")

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        eligible = [
            d.pk
            for d in Domain.objects.filter(owner_id=request.user.pk)
            if service.describe_domain(d).eligible
        ]
        field = self.fields["domain"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Domain.objects.filter(pk__in=eligible).order_by("name")

    def add_service_errors(self, error: service.Invalid) -> None:
        for field, message in error.errors.items():
            self.add_error(field if field in self.fields else None, message)


class ApiKeyForm(ReauthForm):
    label = forms.CharField(
        max_length=service.LABEL_MAX_LENGTH,
        help_text="What will use it: “deploy script”, “support agent”.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope}: {what}") for scope, what in api_scopes.DESCRIPTIONS.items()],
        widget=forms.CheckboxSelectMultiple,
        initial=[api_scopes.APP_PASSWORDS_READ],
        error_messages={"required": "Choose at least one scope."},
        help_text="Only what the program needs: a request outside these scopes is refused (403).",
    )
    field_order = ["label", "scopes", "password"]
