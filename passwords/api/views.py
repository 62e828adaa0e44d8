"""API views: app-passwords (list, create, retrieve, revoke), mailboxes (list, add) and domains.

Every queryset is the requesting user's own, so another user's object is a 404. Each viewset maps
its actions to the scope an API key needs (`required_scopes`, enforced by HasScope before the view
runs). Writes go to the credential service with an Actor that says how the request was
authenticated: an API key, or the dashboard's session, which must have re-entered the account
password recently, or send it as `account_password`, to create an app-password or to change a
domain's retention or encryption key or delete its mail.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from mailkite.mail import domains
from mailkite.mail import encryption as mail_encryption
from mailkite.mail import services as mail_services
from mailkite.mail.models import Domain, Mailbox
from passwords import reauth, service
from passwords import scopes as api_scopes
from passwords.api.logins import LoginHistoryMixin
from passwords.api.pagination import ParameterInvalid
from passwords.api.problems import ProblemException
from passwords.api.serializers import (
    AppPasswordCreatedSerializer,
    AppPasswordCreateSerializer,
    AppPasswordSerializer,
    AppPasswordUpdateSerializer,
    DomainSerializer,
    MailboxCreateSerializer,
    MailboxSerializer,
)
from passwords.models import ApiKey, AppPassword, AuditEntry


def _actor(request: Request, account_password: str | None = None) -> service.Actor:
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    django_request = request._request
    if api_key is None and account_password and not reauth.confirm(django_request, account_password):
        raise serializers.ValidationError({"account_password": ["That is not your account password."]})
    return service.Actor(
        user=request.user,
        via=AuditEntry.Via.API,
        ip=reauth.client_ip(django_request),
        api_key=api_key,
        reauthenticated_at=None if api_key else reauth.reauthenticated_at(django_request),
    )


ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the app-password's id")


def _refused(error: service.NotAllowed) -> ProblemException:
    members = {"scope": error.scope} if error.scope else {}
    return ProblemException(error.code, error.reason, **members)


def _limits(data: dict[str, Any]) -> service.LimitArguments:
    """An app-password's limits from validated request data, as the service's keyword arguments."""
    return {
        "expires": data.get("expires"),
        "allowed_networks": data.get("allowed_networks"),
        "scope": data.get("scope"),
    }


def _invalid(error: service.Invalid) -> serializers.ValidationError:
    return serializers.ValidationError({field: [message] for field, message in error.errors.items()})


@extend_schema_view(
    list=extend_schema(
        summary="List your app-passwords",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=["active", "expired", "revoked"],
                description="only active, only expired or only revoked",
            )
        ],
    ),
    retrieve=extend_schema(summary="Get one app-password (never its secret)", parameters=[ID]),
    destroy=extend_schema(
        parameters=[ID],
        summary="Revoke an app-password",
        description="Soft revoke, at once: live IMAP sessions that use it are disconnected. Idempotent: "
        "revoking a revoked password answers 204 too.",
        responses={204: None},
    ),
    partial_update=extend_schema(
        parameters=[ID],
        summary="Change an app-password's expiry, allowed networks or scope",
        description="Only the fields sent change (`expires: never` removes the expiry). A sooner expiry, "
        "fewer networks or read-only need only `app-passwords:write` (or the session); a later expiry, "
        "more networks or read-and-flag again also need `account_password` with a session. Live IMAP "
        "sessions re-check at once: those the new limits exclude are disconnected.",
        request=AppPasswordUpdateSerializer,
        responses={200: AppPasswordSerializer},
    ),
)
class AppPasswordViewSet(
    LoginHistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    serializer_class = AppPasswordSerializer
    lookup_value_regex = r"[0-9]+"
    required_scopes = {
        "list": api_scopes.APP_PASSWORDS_READ,
        "retrieve": api_scopes.APP_PASSWORDS_READ,
        "create": api_scopes.APP_PASSWORDS_WRITE,
        "destroy": api_scopes.APP_PASSWORDS_WRITE,
        "logins": api_scopes.APP_PASSWORDS_READ,
        "partial_update": api_scopes.APP_PASSWORDS_WRITE,
    }
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[AppPassword]:
        rows = AppPassword.objects.filter(owner=self.request.user).select_related("mailbox__domain")
        wanted = self.request.query_params.get("status")
        if self.action == "list" and wanted not in (None, "active", "expired", "revoked"):
            raise ParameterInvalid({"status": "status must be active, expired or revoked."})
        now = timezone.now()
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        if self.action == "list" and wanted == "active":
            rows = rows.filter(unexpired, revoked_at__isnull=True)
        elif self.action == "list" and wanted == "expired":
            rows = rows.filter(revoked_at__isnull=True, expires_at__lte=now)
        elif self.action == "list" and wanted == "revoked":
            rows = rows.filter(revoked_at__isnull=False)
        return rows.order_by("-created_at", "-id")

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "partial_update":
            return AppPasswordUpdateSerializer
        return AppPasswordCreateSerializer if self.action == "create" else AppPasswordSerializer

    @extend_schema(
        summary="Create an app-password",
        description="Answers 201 with the secret, once (`Cache-Control: no-store`). Needs an API key with "
        "`app-passwords:write`, or a session that re-enters the account password as `account_password`.",
        request=AppPasswordCreateSerializer,
        responses={201: AppPasswordCreatedSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = AppPasswordCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        actor = _actor(request, data.get("account_password"))
        mailbox = _own_mailbox(request, data["mailbox"])
        try:
            row, secret = service.user_create_app_password(
                actor=actor,
                mailbox=mailbox,
                label=data["label"],
                **_limits(data),
            )
        except service.Invalid as error:
            raise _invalid(error) from None
        except service.NotAllowed as error:
            raise _refused(error) from None
        body = AppPasswordCreatedSerializer(row, context={"secret": secret, "request": request}).data
        return Response(body, status=201, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        row = self.get_object()
        incoming = AppPasswordUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            row = service.user_update_app_password(
                actor=_actor(request, data.get("account_password")),
                app_password=row,
                **_limits(data),
            )
        except service.Invalid as error:
            raise _invalid(error) from None
        except service.NotAllowed as error:
            raise _refused(error) from None
        return Response(AppPasswordSerializer(row, context={"request": request}).data)

    def perform_destroy(self, instance: AppPassword) -> None:
        try:
            service.user_revoke_app_password(actor=_actor(self.request), app_password=instance)
        except service.NotAllowed as error:
            raise _refused(error) from None


def _own_mailbox(request: Request, address: str) -> Mailbox:
    try:
        local, domain = mail_services.split_address(address)
    except mail_services.InvalidAddress as error:
        raise serializers.ValidationError({"mailbox": [str(error)]}) from None
    mailbox = (
        Mailbox.objects.select_related("domain")
        .filter(domain__owner=request.user, domain__name=domain, local_part=local.lower())
        .first()
    )
    if mailbox is None:
        raise serializers.ValidationError({"mailbox": [f"You have no address {local.lower()}@{domain}."]})
    return mailbox


@extend_schema_view(
    list=extend_schema(summary="List your addresses"),
    create=extend_schema(
        summary="Add an address",
        description="On one of your domains that can use IMAP, before any mail reaches it, so an agent can "
        "get its inbox and app-password first.",
        request=MailboxCreateSerializer,
        responses={201: MailboxSerializer},
    ),
)
class MailboxViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    serializer_class = MailboxSerializer
    # Addresses are what app-passwords open: a key that makes app-passwords may add them (as before).
    required_scopes = {"list": api_scopes.APP_PASSWORDS_READ, "create": api_scopes.APP_PASSWORDS_WRITE}

    def get_queryset(self) -> QuerySet[Mailbox]:
        return (
            Mailbox.objects.filter(domain__owner=self.request.user)
            .select_related("domain")
            .order_by("domain__name", "local_part", "id")
        )

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return MailboxCreateSerializer if self.action == "create" else MailboxSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = MailboxCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            local, domain_name = mail_services.split_address(incoming.validated_data["address"])
        except mail_services.InvalidAddress as error:
            raise serializers.ValidationError({"address": [str(error)]}) from None
        domain = Domain.objects.filter(owner=request.user, name=domain_name).first()
        if domain is None:
            raise serializers.ValidationError({"address": [f"You have no domain {domain_name}."]})
        try:
            mailbox = service.user_add_mailbox(actor=_actor(request), domain=domain, local_part=local)
        except service.Invalid as error:
            raise serializers.ValidationError({"address": list(error.errors.values())}) from None
        except service.NotAllowed as error:
            raise _refused(error) from None
        return Response(MailboxSerializer(mailbox).data, status=201)


class DomainCreateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(max_length=253, help_text="the domain, e.g. example.com")


REAUTH_OR_DOMAINS_WRITE = (
    "Needs an API key with `domains:write`, or from a session the account password re-entered "
    "(`account_password`, or in the dashboard in the last few minutes)."
)


class ReauthSerializer(serializers.Serializer):  # type: ignore[type-arg]
    account_password = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="your account password, re-entered; needed with a session (not with an API key) unless "
        "re-entered in the last few minutes",
    )


class DomainEncryptionSerializer(ReauthSerializer):
    encryption = serializers.ChoiceField(choices=Domain.Encryption.values)
    key = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    protect_subject = serializers.BooleanField(required=False, default=False)


class DomainRetentionSerializer(ReauthSerializer):
    retention = serializers.ChoiceField(choices=Domain.Retention.values)


class ConfirmSerializer(ReauthSerializer):
    confirm = serializers.BooleanField(help_text="true: the stored mail is deleted for good")


@extend_schema_view(
    list=extend_schema(summary="List your domains and whether each can use IMAP"),
    retrieve=extend_schema(summary="One of your domains, with its TXT record and last checks"),
    create=extend_schema(
        summary="Add a domain (a pending claim until its TXT record is found)", request=DomainCreateSerializer
    ),
)
class DomainViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):  # type: ignore[type-arg]
    """Domains by name: /api/v1/domains/example.com/ (DESIGN §7, docs/domains.md)."""

    serializer_class = DomainSerializer
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    required_scopes = {
        "list": api_scopes.DOMAINS_READ,
        "retrieve": api_scopes.DOMAINS_READ,
        "create": api_scopes.DOMAINS_WRITE,
        "verify": api_scopes.DOMAINS_WRITE,
        "encryption": api_scopes.DOMAINS_WRITE,
        "retention": api_scopes.DOMAINS_WRITE,
        "purge_mail": api_scopes.DOMAINS_WRITE,
    }

    def get_queryset(self) -> QuerySet[Domain]:
        return (
            Domain.objects.filter(owner=self.request.user)
            .prefetch_related("mailboxes")
            .order_by("name", "id")
        )

    def _authorise(self, request: Request, data: dict[str, Any], what: str) -> None:
        """What a person can regret: a fresh password re-entry, or a key with domains:write."""
        try:
            service.authorise_domain_change(actor=_actor(request, data.get("account_password")), what=what)
        except service.NotAllowed as error:
            raise _refused(error) from None

    def _answer(self, domain: Domain, status: int = 200) -> Response:
        domain.refresh_from_db()
        return Response(DomainSerializer(domain).data, status=status)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = DomainCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            domain = domains.add_domain(owner=request.user, name=incoming.validated_data["name"])
        except domains.DomainError as error:
            raise serializers.ValidationError({error.field: [str(error)]}) from None
        return self._answer(domain, status=201)

    @extend_schema(summary="Check the domain's TXT (ownership) and MX records now", request=None)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, name: str | None = None) -> Response:
        domain = self.get_object()
        domains.verify(domain)
        return self._answer(domain)

    @extend_schema(
        summary="Set the OpenPGP key or S/MIME certificate new mail is encrypted to",
        description=REAUTH_OR_DOMAINS_WRITE,
        request=DomainEncryptionSerializer,
    )
    @action(detail=True, methods=["put"])
    def encryption(self, request: Request, name: str | None = None) -> Response:
        domain = self.get_object()
        incoming = DomainEncryptionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        self._authorise(request, data, "change the encryption key")
        try:
            domains.set_encryption(
                domain, kind=data["encryption"], key=data["key"], protect_subject=data["protect_subject"]
            )
        except mail_encryption.InvalidKey as error:
            raise serializers.ValidationError({"key": [str(error)]}) from None
        return self._answer(domain)

    @extend_schema(
        summary="Retain mail, or switch to zero-retention (ends IMAP sessions at once)",
        description=REAUTH_OR_DOMAINS_WRITE,
        request=DomainRetentionSerializer,
    )
    @action(detail=True, methods=["post"])
    def retention(self, request: Request, name: str | None = None) -> Response:
        domain = self.get_object()
        incoming = DomainRetentionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        self._authorise(request, incoming.validated_data, "change retention")
        domains.set_retention(domain, incoming.validated_data["retention"])
        return self._answer(domain)

    @extend_schema(
        summary="Delete a zero-retention domain's stored mail",
        description=REAUTH_OR_DOMAINS_WRITE,
        request=ConfirmSerializer,
    )
    @action(detail=True, methods=["post"], url_path="purge-mail")
    def purge_mail(self, request: Request, name: str | None = None) -> Response:
        domain = self.get_object()
        incoming = ConfirmSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        if not incoming.validated_data["confirm"]:
            raise serializers.ValidationError({"confirm": ["Send true to delete the stored mail for good."]})
        self._authorise(request, incoming.validated_data, "delete stored mail")
        try:
            domains.purge_mail(domain)
        except ValueError as error:
            raise serializers.ValidationError({"retention": [str(error)]}) from None
        return self._answer(domain)
