"""Scopes enforced on every API operation: each view maps its actions to the one scope they need.

A request with an API key that lacks the scope is refused before the view runs, with a 403 problem
naming the scope. An action no scope covers is refused to every key (fail closed), so a new
endpoint cannot be reached with a key until someone decides its scope. Sessions pass: they are
people, who re-enter their password where it matters (passwords.service).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from passwords.models import ApiKey

# No action (a method the route does not take: DRF answers 405) and OPTIONS (which describes the
# endpoint's fields, never data) need no scope.
UNSCOPED = (None, "metadata")


def required_scope(view: Any) -> str | None:
    """The scope the view's current action needs, from its `required_scopes` mapping."""
    mapping: dict[str, str] = getattr(view, "required_scopes", {})
    return mapping.get(getattr(view, "action", None) or "")


class HasScope(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        # Imported here: DRF loads permission classes while rest_framework.views is still loading.
        from passwords.api.problems import ProblemException

        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        if getattr(view, "action", None) in UNSCOPED:
            return True
        scope = required_scope(view)
        if scope is None:
            raise ProblemException("api-key-not-allowed", "No API key may use this endpoint.")
        if not key.has_scope(scope):
            raise ProblemException(
                "insufficient-scope",
                f"This API key lacks the scope {scope}. Create a key with it under Settings → API keys.",
                scope=scope,
            )
        return True
