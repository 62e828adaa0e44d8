"""Celery tasks: MX verification on demand and on a schedule, and the blob collector (celery beat)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from mailkite.mail import blobgc, domains, services
from mailkite.mail.models import Domain


@shared_task
def verify_domain(domain_id: int) -> str:
    domain = Domain.objects.select_related("owner").get(pk=domain_id)
    return domains.verify(domain).outcome.value


# Reserved names (services.RESERVED_SUFFIXES) can never carry public records: the schedule leaves
# them alone; "verify now" still checks them on request.
RESERVED_SUFFIXES = services.RESERVED_SUFFIXES


@shared_task
def verify_all_domains() -> int:
    """Re-check every domain; repeated definitive failures over a day turn IMAP off."""
    names = Domain.objects.values_list("pk", "name")
    ids = [pk for pk, name in names if not name.endswith(RESERVED_SUFFIXES)]
    for domain_id in ids:
        verify_domain.delay(domain_id)
    return len(ids)


@shared_task
def collect_blobs() -> str:
    """`manage.py blobs gc`, on a schedule: unreferenced blobs older than the grace period."""
    grace = timedelta(hours=settings.MAILKITE.blob_gc_grace_hours)
    return blobgc.collect(grace=grace).sentence()
