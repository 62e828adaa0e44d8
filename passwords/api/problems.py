"""RFC 9457 problem documents for every API error.

`exception_handler` (REST_FRAMEWORK's EXCEPTION_HANDLER) turns DRF's exceptions into
`application/problem+json`, field errors as `errors: [{"pointer": "#/label", "detail": ...}]`.
`ProblemMiddleware` covers what never reaches DRF under /api/: unknown routes, a crash, Django's
own 4xx pages. Each problem type has a stable slug and a page at /api/problems/<slug>.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

# slug: (status, title, what it means and what to do)
TYPES: dict[str, tuple[int, str, str]] = {
    "validation-error": (
        400,
        "Your request has invalid fields",
        "Fix the fields listed in `errors` and send it again.",
    ),
    "malformed-request": (
        400,
        "The request body could not be read",
        "Send a JSON object with Content-Type application/json.",
    ),
    "not-authenticated": (
        401,
        "Authentication required",
        "Send `Authorization: Bearer mk_api_…` with an API key from Settings → API keys.",
    ),
    "authentication-failed": (
        401,
        "The credentials were not accepted",
        "The API key is wrong, unknown or revoked. API keys start with mk_api_; app-passwords "
        "(mk_imap_) are for IMAP only.",
    ),
    "reauthentication-required": (
        403,
        "Re-enter your account password",
        "A signed-in session must send its account password as `account_password` (or have re-entered it "
        "in the dashboard in the last few minutes) to create an app-password.",
    ),
    "api-key-not-allowed": (
        403,
        "This API key may not do that",
        "API keys cannot make other API keys; use the dashboard (Settings → API keys).",
    ),
    "insufficient-scope": (
        403,
        "This API key lacks the scope for this",
        "The problem's `scope` names the scope the request needs (app-passwords:read, app-passwords:write, "
        "domains:read or domains:write). Create a key with it under Settings → API keys.",
    ),
    "permission-denied": (403, "Permission denied", "You may not do this."),
    "not-found": (404, "Not found", "There is nothing here, or it belongs to another account."),
    "method-not-allowed": (
        405,
        "Method not allowed",
        "See the `Allow` header for the methods this URL takes.",
    ),
    "not-acceptable": (406, "Not acceptable", "This API answers application/json."),
    "unsupported-media-type": (415, "Unsupported media type", "Send request bodies as application/json."),
    "too-many-requests": (429, "Too many requests", "Wait for the seconds in `Retry-After`, then try again."),
    "too-many-attempts": (
        429,
        "Too many wrong passwords",
        "Sign-in is cooling off for this account and address after repeated wrong passwords.",
    ),
    # Leak reports from secret scanners (passwords/api/leak_reports.py).
    "signature-required": (
        401,
        "The leak report is not signed",
        "Send Github-Public-Key-Identifier (the key's identifier) and Github-Public-Key-Signature (the "
        "base64 DER ECDSA P-256 SHA-256 signature of the raw body).",
    ),
    "unknown-signing-key": (
        401,
        "The signing key is not one we trust",
        "The key named in Github-Public-Key-Identifier is not among the secret scanners' keys this "
        "service is configured with.",
    ),
    "bad-signature": (
        401,
        "The signature does not match the report",
        "Sign the exact bytes of the body, as sent, with the named key; send the DER signature in base64.",
    ),
    "payload-too-large": (
        413,
        "The request body is too large",
        "Split the report into smaller ones; the detail gives the limit.",
    ),
    "too-many-tokens": (
        413,
        "Too many tokens in one report",
        "Split the report into smaller ones; the detail gives the limit.",
    ),
    "server-error": (500, "Something went wrong on our side", "It has been logged; try again in a moment."),
}
_BY_STATUS = {
    400: "malformed-request",
    401: "not-authenticated",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


class ProblemException(exceptions.APIException):
    """An API error with its own problem type slug (e.g. from the credential service)."""

    def __init__(self, code: str, detail: str, **members: str) -> None:
        self.status_code = TYPES[code][0]
        super().__init__(detail=detail, code=code)
        self.problem_code = code
        self.members = members  # RFC 9457 extension members, e.g. the missing `scope`


def type_uri(request: HttpRequest | None, code: str) -> str:
    path = f"{API_PREFIX}problems/{code}"
    return request.build_absolute_uri(path) if request is not None else path


def problem(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    title = TYPES[code][1] if code in TYPES else "Error"
    body: dict[str, Any] = {
        "type": type_uri(request, code),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path if request is not None else "",
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    members: dict[str, str] | None = None,
) -> HttpResponse:
    body = problem(request, status=status, code=code, detail=detail, errors=errors)
    body.update(members or {})
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def _pointer_errors(data: Any, pointer: str = "#") -> list[dict[str, str]]:
    """DRF's nested error structure flattened into RFC 9457 `errors` with JSON pointers."""
    if isinstance(data, dict):
        out: list[dict[str, str]] = []
        for key, value in data.items():
            child = pointer if key in ("non_field_errors", "detail") else f"{pointer}/{key}"
            out.extend(_pointer_errors(value, child))
        return out
    if isinstance(data, list):
        if all(not isinstance(item, (dict, list)) for item in data):
            return [{"pointer": pointer if pointer != "#" else "#/", "detail": str(item)} for item in data]
        out = []
        for index, item in enumerate(data):
            out.extend(_pointer_errors(item, f"{pointer}/{index}"))
        return out
    return [{"pointer": pointer if pointer != "#" else "#/", "detail": str(data)}]


def _code_for(exc: Exception, status_code: int) -> str:
    if isinstance(exc, ProblemException):
        return exc.problem_code
    if isinstance(exc, exceptions.ValidationError) or hasattr(exc, "errors"):
        return "validation-error"
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "authentication-failed"
    return _BY_STATUS.get(status_code, "server-error" if status_code >= 500 else "malformed-request")


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    response: Response | None = drf_exception_handler(exc, context)
    if response is None:
        return None  # a crash: Django's 500 handling, then ProblemMiddleware
    request = context.get("request")
    django_request = getattr(request, "_request", request)
    code = _code_for(exc, response.status_code)
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = _pointer_errors(response.data)
        detail = "; ".join(f"{e['pointer'][2:] or 'request'}: {e['detail']}" for e in errors)
    elif isinstance(getattr(exc, "errors", None), dict):  # a query parameter (ParameterInvalid)
        errors = [{"parameter": name, "detail": message} for name, message in exc.errors.items()]  # type: ignore[attr-defined]
        detail = "; ".join(exc.errors.values())  # type: ignore[attr-defined]
    else:
        data = response.data
        detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
    result = problem_response(
        django_request,
        status=response.status_code,
        code=code,
        detail=detail,
        errors=errors,
        members=getattr(exc, "members", None),
    )
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            result[header] = response[header]
    if code == "too-many-requests" and "Retry-After" not in result:
        result["Retry-After"] = "60"
    scope = getattr(exc, "members", {}).get("scope")
    if scope:  # RFC 6750 §3.1: what a Bearer client lacks, in the header clients look at
        result["WWW-Authenticate"] = f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
    return result


class ProblemMiddleware:
    """Under /api/ (docs pages aside), any error answer that is not yet a problem becomes one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or request.path.startswith(f"{API_PREFIX}docs/")
            or response.get("Content-Type", "").startswith(CONTENT_TYPE)
        ):
            return response
        status_code = response.status_code
        code = _BY_STATUS.get(status_code, "server-error" if status_code >= 500 else "malformed-request")
        replacement = problem_response(request, status=status_code, code=code, detail=TYPES[code][2])
        for header in ("WWW-Authenticate", "Retry-After", "Allow"):
            if header in response:
                replacement[header] = response[header]
        return replacement
