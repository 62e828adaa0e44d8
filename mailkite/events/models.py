"""Change counters: the polled side of live events (DESIGN §5).

One row per changed object (a folder, a credential, a domain, a login). Writers bump the row in
the same transaction as their change; without Redis every process polls this small table once a
second, and with Redis it is the slow reconciliation in case a published message was lost.
"""

from __future__ import annotations

from django.db import models


class ChangeCounter(models.Model):
    kind = models.CharField(max_length=16)
    key = models.BigIntegerField()
    counter = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="changecounter_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}={self.counter}"
