"""Admin for credentials and their audit trail. Hashes are never shown; secrets are never stored.

Revoking goes through the credential service (an action), so live IMAP sessions end and the
audit trail records it; revoked_at is read-only here for that reason. So are the limits
(expiry, allowed networks, scope): they change through the service, which validates, audits and
re-checks live sessions (dashboard, API or `manage.py apppassword limits`).
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from passwords.clientip import client_ip
from passwords.models import ApiKey, AppPassword, AuditEntry
from passwords.service import Actor, user_revoke_app_password


@admin.register(AppPassword)
class AppPasswordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "label",
        "display",
        "mailbox",
        "owner",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at", "scope")
    search_fields = ("label", "key_id", "owner__username")
    exclude = ("hash",)
    readonly_fields = (
        "owner",
        "mailbox",
        "key_id",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "last_used_client",
        "revoked_at",
        "expires_at",
        "allowed_networks",
        "scope",
        "expiry_reminded_days",
    )
    actions = ["revoke_selected"]

    @admin.action(description="Revoke the selected app-passwords now (ends their IMAP sessions)")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[AppPassword]) -> None:
        actor = Actor(user=request.user, via=AuditEntry.Via.ADMIN, ip=client_ip(request), staff=True)
        count = sum(
            user_revoke_app_password(actor=actor, app_password=row)
            for row in queryset.filter(revoked_at__isnull=True)
        )
        self.message_user(request, f"Revoked {count} app-password(s).")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("label", "display", "owner", "scopes", "created_at", "last_used_at", "revoked_at")
    exclude = ("hash",)
    # Scopes are read-only here too: widening a key is a new key, made by its owner (audited).
    readonly_fields = (
        "owner",
        "key_id",
        "scopes",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The audit trail, read-only: who created or revoked which credential, when, and how."""

    list_display = (
        "created_at",
        "owner",
        "actor",
        "action",
        "target",
        "identifier",
        "via",
        "api_key_id",
        "ip",
    )
    list_filter = ("action", "via")
    search_fields = ("target", "identifier", "owner__username", "actor__username")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
