"""Celery tasks for domains: MX verification on demand and on a schedule (celery beat)."""

from __future__ import annotations

from celery import shared_task

from mailkite.mail import domains
from mailkite.mail.models import Domain


@shared_task
def verify_domain(domain_id: int) -> str:
    domain = Domain.objects.select_related("owner").get(pk=domain_id)
    return domains.verify(domain).outcome.value


@shared_task
def verify_all_domains() -> int:
    """Re-check every domain; repeated definitive failures over a day turn IMAP off."""
    ids = list(Domain.objects.values_list("pk", flat=True))
    for domain_id in ids:
        verify_domain.delay(domain_id)
    return len(ids)
