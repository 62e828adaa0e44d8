"""API keys get scopes. A key that could manage app-passwords keeps exactly that
(app-passwords:read and :write); a read-only key keeps app-passwords:read. Neither gets a domains
scope: before this migration any key could change domains, which its label never said
(docs/api.md, "Keys made before scopes")."""

from django.db import migrations, models

MANAGER = ["app-passwords:read", "app-passwords:write"]
READER = ["app-passwords:read"]


def forwards(apps, schema_editor):
    ApiKey = apps.get_model("passwords", "ApiKey")
    ApiKey.objects.filter(can_manage_app_passwords=True).update(scopes=MANAGER)
    ApiKey.objects.filter(can_manage_app_passwords=False).update(scopes=READER)


def backwards(apps, schema_editor):
    ApiKey = apps.get_model("passwords", "ApiKey")
    for key in ApiKey.objects.all():
        key.can_manage_app_passwords = "app-passwords:write" in key.scopes
        key.save(update_fields=["can_manage_app_passwords"])


class Migration(migrations.Migration):
    dependencies = [("passwords", "0002_audit_entry")]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(default=list, help_text="what the key may do (passwords/scopes.py)"),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="apikey", name="can_manage_app_passwords"),
    ]
