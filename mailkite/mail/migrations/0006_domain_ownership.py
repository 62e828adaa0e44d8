"""Domain ownership by a per-account TXT token (issue 11; docs/domains.md, "Domains added before
the TXT challenge").

Every existing domain gets its own token. Domains whose MX was verified keep IMAP: they count as
owned, with a deadline (DOMAIN_TXT_DEADLINE_DAYS from now) to publish the TXT record; after it a
missing record counts against them like any definitive failure (DESIGN §7). Unverified domains
become pending claims. Names were unique until now, so no name has two claims yet.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

import mailkite.mail.models


def give_tokens_and_deadlines(apps, schema_editor):
    Domain = apps.get_model("mail", "Domain")
    days = getattr(getattr(settings, "MAILKITE", None), "txt_deadline_days", 30)
    deadline = timezone.now() + timedelta(days=days)
    for domain in Domain.objects.all().only("pk", "mx_verified_at"):
        fields = {"verification_token": mailkite.mail.models.new_verification_token()}
        if domain.mx_verified_at is not None:
            fields.update(owner_verified_at=domain.mx_verified_at, txt_deadline=deadline)
        Domain.objects.filter(pk=domain.pk).update(**fields)


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0005_message_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="domain",
            name="claim_closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="domain",
            name="owner_verified_at",
            field=models.DateTimeField(
                blank=True, help_text="when this account proved ownership with its TXT token", null=True
            ),
        ),
        migrations.AddField(
            model_name="domain",
            name="txt_deadline",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="domain",
            name="txt_detail",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="domain",
            name="txt_failing_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="domain",
            name="txt_outcome",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="domain",
            name="txt_warned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="domain",
            name="verification_token",
            field=models.CharField(default=mailkite.mail.models.new_verification_token, max_length=64),
        ),
        migrations.AlterField(
            model_name="domain",
            name="name",
            field=models.CharField(max_length=253),
        ),
        migrations.RunPython(give_tokens_and_deadlines, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="domain",
            constraint=models.UniqueConstraint(fields=("name", "owner"), name="domain_one_claim_per_account"),
        ),
        migrations.AddConstraint(
            model_name="domain",
            constraint=models.UniqueConstraint(
                condition=models.Q(("owner_verified_at__isnull", False)),
                fields=("name",),
                name="domain_one_owner",
            ),
        ),
    ]
