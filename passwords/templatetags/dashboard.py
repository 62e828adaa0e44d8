"""Template filters for the dashboard: relative times and last-used lines (passwords.display)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from passwords import display

register = template.Library()


@register.filter
def ago(when: datetime | None) -> str:
    return display.ago(when)


@register.filter
def last_used(row: Any) -> str:
    return display.last_used_text(row)


@register.filter
def status(row: Any) -> str:
    return display.status_text(row)


@register.filter
def limits(row: Any) -> str:
    return display.limits_text(row)
