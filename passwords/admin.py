"""Admin for credentials. Hashes are never shown; secrets are never stored."""

from django.contrib import admin

from passwords.models import ApiKey, AppPassword


@admin.register(AppPassword)
class AppPasswordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("label", "display", "mailbox", "owner", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
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
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("label", "display", "owner", "created_at", "last_used_at", "revoked_at")
    exclude = ("hash",)
    readonly_fields = ("owner", "key_id", "created_at", "last_used_at", "last_used_ip")
