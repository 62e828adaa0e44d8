"""How credentials read on the dashboard and in live updates: relative times and last-used lines.

One implementation for the server-rendered page and the websocket payload, so a live update reads
exactly like a reload; static/mailkite.js repeats only `ago` to keep relative times fresh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from passwords import policy
from passwords.models import AppPassword


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """`just now`, `5 min ago`, `3 h ago`, `2 d ago`, then the date."""
    if when is None:
        return ""
    seconds = max(0, int(((now or timezone.now()) - when).total_seconds()))
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 30 * 86400:
        return f"{seconds // 86400} d ago"
    return timezone.localtime(when).strftime("%-d %b %Y")


def last_used_parts(row: AppPassword, now: datetime | None = None) -> list[str]:
    if row.last_used_at is None:
        return ["Never used"]
    parts = [ago(row.last_used_at, now)]
    if row.last_used_ip:
        parts.append(row.last_used_ip)
    if row.last_used_client:
        parts.append(row.last_used_client)
    return parts


def last_used_text(row: AppPassword, now: datetime | None = None) -> str:
    """`3 h ago · 203.0.113.7 · Thunderbird`, or `Never used`."""
    return " · ".join(last_used_parts(row, now))


def status_text(row: Any) -> str:
    """`Active`, `Active, expires in 3 days`, `Expired on 2027-03-01` or `Revoked 2 d ago`."""
    if row.revoked_at is not None:
        return f"Revoked {ago(row.revoked_at)}"
    left = policy.describe_remaining(getattr(row, "expires_at", None), now=timezone.now())
    if left.startswith("expired"):
        return left[:1].upper() + left[1:]
    return f"Active, {left}" if left else "Active"


def limits_text(row: AppPassword) -> str:
    """The other limits in words for the list: `Read only · from 192.0.2.0/24`, or empty."""
    parts = ["Read only"] if row.read_only else []
    if row.allowed_networks:
        parts.append("from " + ", ".join(row.allowed_networks))
    return " · ".join(parts)


def live_payload(row: AppPassword, *, login_now: bool = False) -> dict[str, Any]:
    """What the websocket sends for one app-password. A login event that skipped the last-used
    write (at most one a minute) still means "used just now"."""
    now = timezone.now()
    if login_now and row.revoked_at is None:
        row.last_used_at = max(row.last_used_at or now, now)
    return {
        "type": "app_password",
        "id": row.pk,
        "status": row.status,
        "status_text": status_text(row),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "last_used_ip": row.last_used_ip,
        "last_used_client": row.last_used_client,
        "last_used_text": last_used_text(row, now),
    }
