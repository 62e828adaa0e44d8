# Issue 15 points 1-3: app-password expiry (and its reminders), allowed networks and scope.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('passwords', '0003_api_key_scopes'),
    ]

    operations = [
        migrations.AddField(
            model_name='apppassword',
            name='allowed_networks',
            field=models.JSONField(blank=True, default=list, help_text='addresses or CIDR blocks logins may come from; empty: anywhere'),
        ),
        migrations.AddField(
            model_name='apppassword',
            name='expires_at',
            field=models.DateTimeField(blank=True, help_text='logins stop at this moment', null=True),
        ),
        migrations.AddField(
            model_name='apppassword',
            name='expiry_reminded_days',
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apppassword',
            name='scope',
            field=models.CharField(choices=[('read-and-flag', 'Read and flag (mark read, star, tag)'), ('read-only', 'Read only (nothing is marked read; flags cannot change)')], default='read-and-flag', max_length=16),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('app_password.created', 'created the app-password'), ('app_password.revoked', 'revoked the app-password'), ('app_password.changed', 'changed the limits of the app-password'), ('api_key.created', 'created the API key'), ('api_key.revoked', 'revoked the API key'), ('mailbox.created', 'added the address')], max_length=32),
        ),
    ]
