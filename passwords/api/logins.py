"""`GET /api/v1/app-passwords/{id}/logins/`: one app-password's login history, newest first.

A mixin for AppPasswordViewSet, so the route, the owner check (another user's password is a 404)
and the scope mapping stay the viewset's. Paged like every list (passwords.api.pagination).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from passwords.logins import REASONS
from passwords.models import LoginRecord


class LoginRecordSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    ip = serializers.IPAddressField(allow_null=True, help_text="the client's address")
    client = serializers.CharField(
        source="client_name", help_text="the name the client sent with IMAP ID; empty if none"
    )
    tls_version = serializers.CharField(help_text="e.g. TLSv1.3")
    outcome = serializers.ChoiceField(choices=LoginRecord.Outcome.values)
    reason = serializers.ChoiceField(
        choices=["", *REASONS],
        help_text="why a refused login was refused (empty for a success): "
        + "; ".join(f"`{code}`: {words}" for code, words in REASONS.items()),
    )

    class Meta:
        model = LoginRecord
        fields = ["id", "at", "ip", "client", "tls_version", "outcome", "reason"]
        read_only_fields = fields


class LoginHistoryMixin:
    @extend_schema(
        summary="One app-password's login history",
        description="Successful and refused IMAP logins with this password, newest first, kept for "
        "LOGIN_HISTORY_DAYS (90 by default). Rows appear about a second after the login (imapd "
        "writes them in batches). Needs `app-passwords:read`.",
        parameters=[
            OpenApiParameter(
                "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="the app-password's id"
            )
        ],
        responses={200: LoginRecordSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], url_path="logins", url_name="logins")
    def logins(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view: Any = self
        row = view.get_object()
        rows = LoginRecord.objects.filter(app_password=row).order_by("-at", "-id")
        page = view.paginate_queryset(rows)
        return view.get_paginated_response(LoginRecordSerializer(page, many=True).data)
