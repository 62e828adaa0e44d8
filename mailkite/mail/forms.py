"""Dashboard forms for domains: thin, the rules live in mailkite.mail.domains."""

from __future__ import annotations

from django import forms

from mailkite.mail.models import Domain


class DomainForm(forms.Form):
    name = forms.CharField(
        max_length=253,
        label="Domain",
        help_text="The domain whose mail MailKite receives, such as example.com.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off", "spellcheck": "false"}),
    )


class EncryptionForm(forms.Form):
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

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("encryption") != Domain.Encryption.NONE and not str(data.get("key") or "").strip():
            self.add_error("key", "Paste the public key or certificate to encrypt to.")
        return data


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(required=True, label="I understand")
