"""OpenAPI post-processing: every operation documents its errors as RFC 9457 problem documents."""

from __future__ import annotations

from typing import Any

from passwords.api.problems import CONTENT_TYPE, TYPES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "a page describing this kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what went wrong this time, in words"},
        "instance": {"type": "string", "description": "the request path"},
        "code": {"type": "string", "enum": sorted(TYPES)},
        "scope": {"type": "string", "description": "the scope the API key lacks (insufficient-scope only)"},
        "errors": {
            "type": "array",
            "description": "what is wrong, field by field (400 only)",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string", "description": "JSON pointer into the request body"},
                    "parameter": {"type": "string", "description": "or the query parameter at fault"},
                    "detail": {"type": "string"},
                },
                "required": ["detail"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}
ERROR_STATUSES = {
    "400": "Invalid fields or an unreadable body",
    "401": "No API key or session, or a wrong, unknown or revoked API key",
    "403": "Not allowed: a key without the operation's scope, a session without a recent password re-entry, "
    "or CSRF",
    "404": "Not found, or another account's",
    "405": "Method not allowed",
    "406": "Not acceptable",
    "415": "Unsupported media type",
    "429": "Too many requests; see Retry-After",
}


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    responses = components.setdefault("responses", {})
    for status, description in ERROR_STATUSES.items():
        responses[f"Problem{status}"] = {
            "description": description,
            "content": {CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            documented = operation.setdefault("responses", {})
            for status in ERROR_STATUSES:
                documented.setdefault(status, {"$ref": f"#/components/responses/Problem{status}"})
    return result
