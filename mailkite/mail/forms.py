"""Dashboard forms for domains: thin, the rules live in mailkite.mail.domains."""

from __future__ import annotations

from typing import Any

from django import forms

from mailkite.mail.models import Domain
from passwords.forms import ReauthForm


class DomainForm(forms.Form):
    name = forms.CharField(
        max_length=253,
        label="Domain",
        help_text="The domain whose mail MailKite receives, such as example.com.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "spellcheck": "false"}),
    )


class DomainReauthForm(ReauthForm):
    """ReauthForm (the account password, checked and throttled), worded for domain changes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = "To confirm it is you before a change to who can read your mail."


class EncryptionForm(DomainReauthForm):
    """A new key decides who can read new mail: the account password is re-entered, as for
    retention and deleting mail (issue 11)."""

    encryption = forms.ChoiceField(choices=Domain.Encryption.choices, widget=forms.RadioSelect)
    key = forms.CharField(
        required=False,
        label="Public key or certificate",
        help_text="An ASCII-armoured OpenPGP public key, or a PEM S/MIME certificate (RSA).",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
    )
    protect_subject = forms.BooleanField(
        required=False, label="Hide the subject too (mail apps then list “...” until they decrypt)"
    )

    field_order = ["encryption", "key", "protect_subject", "password"]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("encryption") != Domain.Encryption.NONE and not str(data.get("key") or "").strip():
            self.add_error("key", "Paste the public key or certificate to encrypt to.")
        return data


class ConfirmForm(DomainReauthForm):
    confirm = forms.BooleanField(required=True, label="I understand")
    field_order = ["confirm", "password"]
