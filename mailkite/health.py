"""`/healthz` for load balancers and container health checks: 200 while the database answers, 503
while it does not.

A middleware, first in the chain, rather than a view: probes address the container by IP
(`127.0.0.1:8000`), which is not in ALLOWED_HOSTS, and CommonMiddleware's host validation would
answer 400 and log an ERROR with a traceback at every probe. Nothing here reads the Host header,
and the answer is the same whatever the request claims to be, so there is nothing to spoof.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

PATH = "/healthz"
log = logging.getLogger("mailkite.health")


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != PATH or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as error:
            # A warning, not an error: the probe reports the outage; a traceback every 10 s does not help.
            log.warning("health check: the database does not answer: %s", error)
            response = JsonResponse({"status": "database unavailable"}, status=503)
            # Django's request log would add an ERROR for the 5xx; this warning has said it.
            response._has_been_logged = True  # type: ignore[attr-defined]
            return response
        return JsonResponse({"status": "ok"})
