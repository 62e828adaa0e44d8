"""{% login_alerts_enabled user as on %}: the new-login alert switch of Settings → IMAP, read
here so the settings view stays as it was (issue 15.5)."""

from __future__ import annotations

from typing import Any

from django import template

from passwords import alerts

register = template.Library()


@register.simple_tag
def login_alerts_enabled(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and alerts.alerts_enabled(user)
