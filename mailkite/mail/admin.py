"""Admin for the mail store: message metadata only; bodies are never shown here."""

from django.contrib import admin
from django.db.models import F

from mailkite.mail.models import Blob, Domain, Expunged, Folder, Mailbox, Message


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    # Several accounts may claim one name; owner_verified_at marks the one that owns it.
    list_display = (
        "name",
        "owner",
        "owner_verified_at",
        "mx_verified_at",
        "retention",
        "encryption",
        "catch_all",
    )
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
    list_select_related = ("folder__mailbox__domain",)
    search_fields = ("text__subject", "text__from_text", "message_id")
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

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        # The shown text columns of the one-to-one MessageText, in the same query (a join, never a
        # query per listed message), and only those: bodies and headers stay in the database.
        shown = {f"shown_{name}": F(f"text__{name}") for name in TEXT}
        return super().get_queryset(request).annotate(**shown)

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    @admin.display(description="subject", ordering="shown_subject")
    def subject(self, message: Message) -> str:
        return _shown(message, "subject")

    @admin.display(description="from", ordering="shown_from_text")
    def from_text(self, message: Message) -> str:
        return _shown(message, "from_text")

    @admin.display(description="to")
    def to_text(self, message: Message) -> str:
        return _shown(message, "to_text")

    @admin.display(description="cc")
    def cc_text(self, message: Message) -> str:
        return _shown(message, "cc_text")


TEXT = ("subject", "from_text", "to_text", "cc_text")  # of MessageText; never bcc, headers or body


def _shown(message: Message, name: str) -> str:
    # None: a message stored without its text row (the join found nothing).
    return getattr(message, f"shown_{name}", None) or ""


@admin.register(Blob)
class BlobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("sha256", "size", "created_at")
    readonly_fields = ("sha256", "size", "created_at")


admin.site.register(Expunged)
