"""Move SEARCH's decoded text (and its trigram indexes) from mail_message to mail_messagetext.

A flag change rewrites the mail_message row, modseq included; modseq is indexed, so on PostgreSQL
that is never a HOT update and every index of the table gets a new entry, the eight GIN trigram
indexes of 0004 too (see MessageText's docstring for the measurement). The text never changes after
ingest, so in its own one-to-one table its indexes are written once, at ingest.

Steps, each reversed in the opposite order: create the table; on PostgreSQL drop 0004's indexes
(so the copy below does not maintain them); copy every row with one INSERT ... SELECT; create the
same eight indexes on the new table (one bulk build each, after the copy); drop the columns.
The reverse adds the columns back (empty), drops the new indexes, copies the text back with one
UPDATE ... FROM (SQLite 3.33+, PostgreSQL), recreates 0004's indexes and drops the table.

On PostgreSQL, DROP COLUMN only hides the columns: their bytes (and TOAST) stay in mail_message until
rows are rewritten or a VACUUM FULL / pg_repack; the table's size shrinks only then.
"""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = ["subject", "from_text", "to_text", "cc_text", "bcc_text", "headers_text", "body_text"]


def _indexes(prefix: str) -> list[tuple[str, str]]:
    # The expressions Django emits: icontains is UPPER(col::text) LIKE UPPER(%s), HEADER's iregex
    # is col::text ~* %s (0004's docstring); ::text on a text column is a no-op the planner drops.
    return [(f"{prefix}_{column}_trgm", f"UPPER({column})") for column in COLUMNS] + [
        (f"{prefix}_headers_text_re_trgm", "headers_text")
    ]


OLD = ("mail_message", _indexes("message"))  # 0004's names
NEW = ("mail_messagetext", _indexes("messagetext"))


def _create(schema_editor, table: str, indexes: list[tuple[str, str]]) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in indexes:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}) gin_trgm_ops)"
        )


def _drop(schema_editor, indexes: list[tuple[str, str]]) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in indexes:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def drop_old(apps, schema_editor):
    _drop(schema_editor, OLD[1])


def create_old(apps, schema_editor):
    _create(schema_editor, *OLD)


def create_new(apps, schema_editor):
    _create(schema_editor, *NEW)


def drop_new(apps, schema_editor):
    _drop(schema_editor, NEW[1])


_columns = ", ".join(COLUMNS)
COPY = f"INSERT INTO mail_messagetext (message_id, {_columns}) SELECT id, {_columns} FROM mail_message"
COPY_BACK = (
    "UPDATE mail_message SET "
    + ", ".join(f"{column} = t.{column}" for column in COLUMNS)
    + " FROM mail_messagetext AS t WHERE t.message_id = mail_message.id"
)


class Migration(migrations.Migration):
    dependencies = [("mail", "0004_search_trigram_indexes")]

    operations = [
        migrations.CreateModel(
            name="MessageText",
            fields=[
                (
                    "message",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="text",
                        serialize=False,
                        to="mail.message",
                    ),
                ),
                ("subject", models.TextField(blank=True)),
                ("from_text", models.TextField(blank=True)),
                ("to_text", models.TextField(blank=True)),
                ("cc_text", models.TextField(blank=True)),
                ("bcc_text", models.TextField(blank=True)),
                (
                    "headers_text",
                    models.TextField(blank=True, help_text="every header, decoded, one per line"),
                ),
                (
                    "body_text",
                    models.TextField(blank=True, help_text="decoded text parts, for SEARCH BODY/TEXT"),
                ),
            ],
        ),
        migrations.RunPython(drop_old, create_old),
        migrations.RunSQL(COPY, COPY_BACK),
        migrations.RunPython(create_new, drop_new),
        *(migrations.RemoveField(model_name="message", name=column) for column in COLUMNS),
    ]
