"""Rate limits per credential: per API key, or per signed-in user for the dashboard's session.

The rate is API_RATE_LIMIT (read once into settings.MAILKITE); with REDIS_URL the counts live in
the shared cache, so every web process counts together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from passwords.clientip import client_ip
from passwords.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request


class PerCredentialThrottle(SimpleRateThrottle):
    scope = "api"

    def get_rate(self) -> str:
        rate: str = settings.MAILKITE.api_rate_limit
        return rate

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{client_ip(request._request)}"  # TRUSTED_PROXIES-aware, unlike get_ident
        return f"throttle_{self.scope}_{ident}"
