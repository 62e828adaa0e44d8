"""Admin for the mail store: message metadata only; bodies are never shown here."""

from django.contrib import admin

from mailkite.mail.models import Blob, Domain, Expunged, Folder, Mailbox, Message


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "owner", "mx_verified_at", "retention", "encryption", "catch_all")
    list_filter = ("retention", "encryption")
    search_fields = ("name", "owner__username")


class FolderInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Folder
    extra = 0
    can_delete = False
    readonly_fields = ("name", "uidvalidity", "uidnext", "highest_modseq", "message_count", "total_size")


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "domain", "created_at")
    search_fields = ("local_part", "domain__name")
    inlines = [FolderInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("uid", "folder", "subject", "from_text", "internal_date", "size", "flags")
    list_filter = ("folder__name",)
    search_fields = ("subject", "from_text", "message_id")
    # Metadata only: the raw message, decoded body text and search text stay out of the admin.
    fields = (
        "folder",
        "uid",
        "modseq",
        "blob",
        "internal_date",
        "internal_date_offset",
        "size",
        "flags",
        "keywords",
        "crlf_normalised",
        "message_id",
        "subject",
        "from_text",
        "to_text",
        "cc_text",
        "sent_date",
        "delivered_to",
        "source_key",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("sha256", "size", "created_at")
    readonly_fields = ("sha256", "size", "created_at")


admin.site.register(Expunged)
