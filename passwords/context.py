"""Template context shared by every dashboard page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    config = settings.MAILKITE
    return {"provider_name": config.provider_name, "smtp_configured": bool(config.smtp_submission_host)}
