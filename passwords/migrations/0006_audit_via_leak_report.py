"""AuditEntry.via gains "leak-report": a secret scanner's signed report revoked the credential (issue 15)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('passwords', '0005_login_history_alerts'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='via',
            field=models.CharField(choices=[('dashboard', 'dashboard'), ('api', 'REST API'), ('admin', 'Django admin'), ('cli', 'command line'), ('leak-report', 'leak report')], max_length=16),
        ),
    ]
