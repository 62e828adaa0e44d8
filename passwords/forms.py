"""Dashboard forms. They check shape and the re-entered account password; the rules (unique
labels, eligible mailboxes, who may do what) are the credential service's, whose Invalid errors
the views attach to these forms' fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest

from mailkite.mail.models import Domain, Mailbox
from passwords import reauth, service
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
    field_order = ["label", "mailbox", "password"]

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, request=request, **kwargs)
        field = self.fields["mailbox"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = service.eligible_mailboxes(owner=request.user)

    label_presets = LABEL_PRESETS


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
