"""API-key authentication: `Authorization: Bearer mk_api_…`, verified by the credential service.

A wrong, unknown or revoked key is a 401 problem; an IMAP app-password sent here is told so.
Too many wrong keys from one address and that address gets 429s for a while (authfailures).
Requests without a Bearer header fall through to session authentication (the dashboard's).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from passwords import reauth, scopes, service
from passwords.api import authfailures
from passwords.models import ApiKey

KEYWORD = b"bearer"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        ip = reauth.client_ip(request._request)
        wait = authfailures.seconds_to_wait(ip)
        if wait:
            raise exceptions.Throttled(wait=wait, detail="Too many wrong API keys from your address.")
        if len(parts) != 2:
            authfailures.record_failure(ip)
            raise exceptions.AuthenticationFailed("Send the API key as `Authorization: Bearer mk_api_…`.")
        key = parts[1].decode("ascii", "replace")
        try:
            api_key = service.authenticate_api_key(key=key, ip=ip)
        except service.AuthenticationFailed as error:
            authfailures.record_failure(ip)
            if not error.api_key:
                raise exceptions.AuthenticationFailed(
                    "That is an IMAP app-password (mk_imap_…), not an API key. "
                    "Create an API key under Settings → API keys."
                ) from None
            raise exceptions.AuthenticationFailed("The API key is wrong, unknown or revoked.") from None
        return api_key.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """`security` on each operation names the one scope a key needs for it (OpenAPI 3 lists such
    "role names" in a non-OAuth requirement's array)."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        # Imported here: DRF imports this module while rest_framework.views is still loading.
        from passwords.api.permissions import required_scope

        scope = required_scope(auto_schema.view)
        return {self.name: [scope] if scope else []}

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        listed = "; ".join(f"`{scope}`: {what}" for scope, what in scopes.DESCRIPTIONS.items())
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mk_api_<key id>_<secret>",
            "description": "An API key from Settings → API keys. Each operation's `security` names the "
            "scope the key needs; without it the answer is a 403 `insufficient-scope` problem. "
            f"Scopes: {listed}.",
        }
