"""API shapes. Reading serializers describe rows; the writing ones only check shape, and the
credential service applies the rules (its Invalid errors become 400 problems with pointers)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mailkite.mail import domains, ownership
from mailkite.mail.models import Domain, Mailbox
from passwords import policy, service
from passwords.models import AppPassword


class LastUsedSerializer(serializers.Serializer):  # type: ignore[type-arg]
    at = serializers.DateTimeField(allow_null=True, help_text="when a client last logged in with it")
    ip = serializers.IPAddressField(allow_null=True, help_text="the client's address then")
    client = serializers.CharField(allow_blank=True, help_text="the name the client sent with IMAP ID")


class AppPasswordSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    identifier = serializers.CharField(source="display", read_only=True, help_text="public part only")
    mailbox = serializers.CharField(source="mailbox.address", read_only=True)
    status = serializers.SerializerMethodField()
    last_used = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="when logins stop; null: never"
    )
    expires = serializers.SerializerMethodField()
    allowed_networks = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="addresses or CIDR blocks logins may come from; empty: anywhere",
    )
    scope = serializers.ChoiceField(
        choices=policy.SCOPES,
        read_only=True,
        help_text="read-and-flag, or read-only (FETCH peeks, STORE is refused)",
    )

    class Meta:
        model = AppPassword
        fields = [
            "id",
            "label",
            "identifier",
            "key_id",
            "mailbox",
            "status",
            "created_at",
            "last_used",
            "revoked_at",
            "expires_at",
            "expires",
            "allowed_networks",
            "scope",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["active", "expired", "revoked"]))
    def get_status(self, row: AppPassword) -> str:
        return row.status

    @extend_schema_field(
        serializers.CharField(help_text="“expires in 3 days”, “expired on 2027-03-01”, or empty")
    )
    def get_expires(self, row: AppPassword) -> str:
        return policy.describe_remaining(row.expires_at, now=timezone.now())

    @extend_schema_field(LastUsedSerializer)
    def get_last_used(self, row: AppPassword) -> dict[str, Any]:
        return {"at": row.last_used_at, "ip": row.last_used_ip, "client": row.last_used_client}


EXPIRES_HELP = (
    "never (the default), 7, 30, 90 or 365 (days from now), or a date such as 2027-03-01 (logins stop "
    "at 00:00 UTC that day)"
)
NETWORKS_HELP = (
    f"at most {policy.MAX_NETWORKS} IPv4 or IPv6 addresses or CIDR blocks, e.g. [\"192.0.2.0/24\", "
    "\"2001:db8::/48\"]; empty or absent: anywhere"
)


class LimitsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The shape of the three limits; passwords.policy reads their values (Invalid → problem)."""

    expires = serializers.CharField(required=False, max_length=40, help_text=EXPIRES_HELP)
    allowed_networks = serializers.ListField(
        child=serializers.CharField(max_length=60),
        required=False,
        max_length=policy.MAX_NETWORKS,
        help_text=NETWORKS_HELP,
    )
    scope = serializers.ChoiceField(
        choices=policy.SCOPES,
        required=False,
        help_text="read-and-flag (the default: what mail apps expect) or read-only (nothing marked read, "
        "flags cannot change)",
    )


class AppPasswordCreateSerializer(LimitsSerializer):
    label = serializers.CharField(
        max_length=service.LABEL_MAX_LENGTH, help_text="where it will be used: “Thunderbird on my laptop”"
    )
    mailbox = serializers.EmailField(max_length=254, help_text="one of your addresses, e.g. you@example.com")
    account_password = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text=(
            "your account password, re-entered; needed when signed in with a session (not with an API key) "
            "unless re-entered in the dashboard in the last few minutes"
        ),
    )


class AppPasswordUpdateSerializer(LimitsSerializer):
    """PATCH: only the limits change. Shorter, narrower and read-only need nothing more; a later
    expiry, more networks or flag rights back need app-passwords:write or `account_password`."""

    expires = serializers.CharField(
        required=False, max_length=40, help_text=EXPIRES_HELP.replace("never (the default)", "never")
    )
    account_password = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="your account password, re-entered; needed with a session to widen a limit",
    )


class ImapSettingsSerializer(serializers.Serializer):  # type: ignore[type-arg]
    host = serializers.CharField()
    port = serializers.IntegerField()
    security = serializers.CharField(help_text="always implicit TLS (SSL/TLS from the first byte)")
    username = serializers.CharField()


class AppPasswordCreatedSerializer(AppPasswordSerializer):
    secret = serializers.SerializerMethodField(
        help_text="the app-password itself: shown in this response only"
    )
    imap = serializers.SerializerMethodField()

    class Meta(AppPasswordSerializer.Meta):
        fields = [*AppPasswordSerializer.Meta.fields, "secret", "imap"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_secret(self, row: AppPassword) -> str:
        secret: str = self.context["secret"]
        return secret

    @extend_schema_field(ImapSettingsSerializer)
    def get_imap(self, row: AppPassword) -> dict[str, Any]:
        config = settings.MAILKITE
        return {
            "host": config.imap_public_host,
            "port": config.imap_public_port,
            "security": "implicit TLS",
            "username": row.mailbox.address,
        }


class TxtRecordSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(help_text="where to publish it: the domain itself")
    alternative_name = serializers.CharField(help_text="or here, if the domain's own TXT set is crowded")
    type = serializers.CharField(help_text='always "TXT"')
    value = serializers.CharField(help_text="mailkite-verification=<this account's token>, exactly")
    zone_line = serializers.CharField(help_text="the same record in zone-file form")


class DomainSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    ownership = serializers.ChoiceField(
        choices=Domain.Ownership.choices,
        read_only=True,
        help_text="verified: this account proved it owns the name; pending: not yet; "
        "closed: another account proved it first",
    )
    txt_record = serializers.SerializerMethodField(help_text="the record that proves ownership")
    imap_eligible = serializers.SerializerMethodField()
    imap_reason = serializers.SerializerMethodField(help_text="why IMAP is off, in words; empty when on")
    note = serializers.SerializerMethodField(help_text="what to know even when IMAP is on")
    mailboxes = serializers.SerializerMethodField()

    class Meta:
        model = Domain
        fields = [
            "name",
            "ownership",
            "owner_verified_at",
            "txt_record",
            "txt_outcome",
            "txt_detail",
            "txt_deadline",
            "mx_verified_at",
            "mx_checked_at",
            "mx_outcome",
            "mx_detail",
            "retention",
            "encryption",
            "imap_eligible",
            "imap_reason",
            "note",
            "mailboxes",
        ]
        read_only_fields = fields

    @extend_schema_field(TxtRecordSerializer)
    def get_txt_record(self, domain: Domain) -> dict[str, str]:
        return {
            "name": domain.name,
            "alternative_name": f"{ownership.SUBDOMAIN}.{domain.name}",
            "type": "TXT",
            "value": domain.txt_value,
            "zone_line": domains.txt_record(domain),
        }

    @extend_schema_field(serializers.BooleanField())
    def get_imap_eligible(self, domain: Domain) -> bool:
        return service.describe_domain(domain).eligible

    @extend_schema_field(serializers.CharField())
    def get_imap_reason(self, domain: Domain) -> str:
        return service.describe_domain(domain).reason

    @extend_schema_field(serializers.CharField())
    def get_note(self, domain: Domain) -> str:
        return service.describe_domain(domain).note

    @extend_schema_field(serializers.ListField(child=serializers.EmailField()))
    def get_mailboxes(self, domain: Domain) -> list[str]:
        return [m.address for m in domain.mailboxes.all()]


class MailboxSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    address = serializers.CharField(read_only=True)
    domain = serializers.CharField(source="domain.name", read_only=True)
    imap_eligible = serializers.SerializerMethodField()

    class Meta:
        model = Mailbox
        fields = ["id", "address", "domain", "imap_eligible", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_imap_eligible(self, mailbox: Mailbox) -> bool:
        return mailbox.domain.imap_refusal() is None


class MailboxCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    address = serializers.EmailField(
        max_length=254, help_text="a new address on one of your eligible domains"
    )
