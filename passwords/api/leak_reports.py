"""POST /api/v1/secret-scanning/reports/: secret scanners report our tokens found in public.

The request and answer follow GitHub's secret-scanning partner program (docs/api.md "Leaked
tokens"): a JSON array of `{token, type, url, source}`, signed with ECDSA P-256 / SHA-256 over the
raw body (`Github-Public-Key-Signature`, base64 DER) by the key named in
`Github-Public-Key-Identifier`; the answer is a JSON array of `{token_hash, token_type, label}`,
label `true_positive` or `false_positive`, one per token, in order.

No session or API key: the signature is the authentication, checked over the bytes as received
before any JSON is parsed. The body and the batch are capped, and each address is rate-limited
(every request counts, signed or not), so the endpoint costs an attacker more than it costs us.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from passwords import leaks, scanning_keys
from passwords.api.problems import ProblemException
from passwords.clientip import client_ip

# A report of 1000 long GitHub URLs fits in a few hundred KiB; argon2 is spent only on tokens whose
# checksum and key id are right, so a full batch of real ones still answers in seconds.
MAX_BODY_BYTES = 1024 * 1024
MAX_TOKENS = 1000
KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
AUTH_CHALLENGE = f'{SIGNATURE_HEADER} realm="secret-scanning"'


class PerAddressThrottle(SimpleRateThrottle):
    scope = "secret-scanning"

    def get_rate(self) -> str:
        rate: str = settings.MAILKITE.secret_scanning_rate_limit
        return rate

    def get_cache_key(self, request: Request, view: Any) -> str:
        return f"throttle_{self.scope}_{client_ip(request._request)}"  # TRUSTED_PROXIES-aware


class MatchSerializer(serializers.Serializer):  # type: ignore[type-arg]
    # Not trimmed: the answer's token_hash is the SHA-256 of the token exactly as sent.
    token = serializers.CharField(trim_whitespace=False, allow_blank=True)
    type = serializers.CharField(trim_whitespace=False, allow_blank=True, required=False, default="")
    url = serializers.CharField(trim_whitespace=False, allow_blank=True, required=False, default="")
    source = serializers.CharField(trim_whitespace=False, allow_blank=True, required=False, default="")


def _refuse_signature(code: str, detail: str) -> ProblemException:
    error = ProblemException(code, detail)
    error.auth_header = AUTH_CHALLENGE  # type: ignore[attr-defined]  # a 401 names its scheme (RFC 9110)
    return error


def _signed_body(request: Request) -> bytes:
    """The raw body, if within the cap and signed by a configured key; else a problem."""
    django_request = request._request
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise ProblemException("payload-too-large", f"Send at most {MAX_BODY_BYTES} bytes per report.")
    body = django_request.read(MAX_BODY_BYTES + 1)  # never trust Content-Length alone
    if len(body) > MAX_BODY_BYTES:
        raise ProblemException("payload-too-large", f"Send at most {MAX_BODY_BYTES} bytes per report.")
    key_id = request.headers.get(KEY_ID_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not key_id or not signature:
        raise _refuse_signature(
            "signature-required", f"The report needs both {KEY_ID_HEADER} and {SIGNATURE_HEADER}."
        )
    try:
        scanning_keys.verify(
            pairs=settings.MAILKITE.secret_scanning_public_keys,
            key_identifier=key_id,
            signature=signature,
            body=body,
        )
    except scanning_keys.UnknownKey:
        raise _refuse_signature(
            "unknown-signing-key", "The key in Github-Public-Key-Identifier is not one we trust."
        ) from None
    except scanning_keys.BadSignature:
        raise _refuse_signature(
            "bad-signature", "Github-Public-Key-Signature is not the named key's signature of this body."
        ) from None
    return body


class LeakReportView(APIView):
    authentication_classes: list[Any] = []  # the signature authenticates; no session, so no CSRF
    permission_classes: list[Any] = []
    throttle_classes = [PerAddressThrottle]
    renderer_classes = [JSONRenderer]

    # Not in the OpenAPI schema: it is for secret scanners, which follow GitHub's partner format
    # (docs/api.md "Leaked tokens"), not for API clients, and it has no API-key scope, which every
    # operation in the schema names (tests/web/test_scopes.py).
    @extend_schema(exclude=True)
    def post(self, request: Request) -> Response:
        body = _signed_body(request)
        try:
            document = json.loads(body)
        except ValueError:
            raise ProblemException("malformed-request", "The report is not valid JSON.") from None
        if isinstance(document, list) and len(document) > MAX_TOKENS:
            raise ProblemException("too-many-tokens", f"Send at most {MAX_TOKENS} tokens per report.")
        parsed = MatchSerializer(data=document, many=True)
        parsed.is_valid(raise_exception=True)
        matches = [leaks.Match(**item) for item in parsed.validated_data]
        verdicts = leaks.handle_report(matches, reporter_ip=client_ip(request._request))
        return Response([verdict.as_feedback() for verdict in verdicts])
