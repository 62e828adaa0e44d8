"""Publishing an event: "folder X changed", "credential Y changed", "domain Z changed", "login".

publish() must be called inside the writing transaction: it bumps the change counter there (so
the counter and the change commit together) and, with REDIS_URL, publishes on Redis after the
commit, so no subscriber is woken before the change is visible. A failed Redis publish is only
logged: the subscribers' reconciliation poll of the counters catches up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from mailkite.events.models import ChangeCounter

log = logging.getLogger("mailkite.events")
CHANNEL = "mailkite:events"
FOLDER, CREDENTIAL, DOMAIN, LOGIN = "folder", "credential", "domain", "login"

_local = threading.local()


def _redis() -> Any:
    client = getattr(_local, "redis", None)
    if client is None:
        import redis

        url = settings.MAILKITE.redis_url or ""
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _local.redis = client
    return client


def _bump(kind: str, key: int) -> None:
    now = timezone.now()
    rows = ChangeCounter.objects.filter(kind=kind, key=key)
    if rows.update(counter=F("counter") + 1, changed_at=now):
        return
    try:
        with transaction.atomic():
            ChangeCounter.objects.create(kind=kind, key=key, counter=1, changed_at=now)
    except IntegrityError:  # another writer created it first
        rows.update(counter=F("counter") + 1, changed_at=now)


def _send(message: str) -> None:
    try:
        _redis().publish(CHANNEL, message)
    except Exception as error:  # the reconciliation poll covers a lost message
        log.warning("could not publish %s on Redis: %s", message, error)


def publish(kind: str, key: int) -> None:
    """Record that `kind` `key` changed; subscribers in every process hear of it."""
    with transaction.atomic():
        _bump(kind, key)
        if settings.MAILKITE.redis_url:
            transaction.on_commit(lambda: _send(f"{kind}:{key}"))
