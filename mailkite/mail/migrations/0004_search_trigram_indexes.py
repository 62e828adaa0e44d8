"""Trigram indexes for SEARCH's substring keys on PostgreSQL; nothing on SQLite.

Django's icontains on PostgreSQL is `UPPER(col::text) LIKE UPPER(%s)` with the pattern wrapped in
%...%, which no B-tree can serve. A GIN index with gin_trgm_ops on the same UPPER(col) expression
can (pg_trgm answers LIKE '%x%' from trigrams), so SEARCH SUBJECT/FROM/TO/CC/BCC/BODY/TEXT stop
scanning every row of a big folder. HEADER name value compiles to a case-insensitive regex on
headers_text (`headers_text::text ~* ...`), which a trigram index on the plain column serves.
pg_trgm is a trusted extension (PostgreSQL 13+), so the database owner may create it.
"""

from django.db import migrations

COLUMNS = ["subject", "from_text", "to_text", "cc_text", "bcc_text", "headers_text", "body_text"]
INDEXES = [(f"message_{column}_trgm", f"UPPER({column})") for column in COLUMNS] + [
    ("message_headers_text_re_trgm", "headers_text")
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON mail_message USING gin (({expression}) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("mail", "0003_sort_keys_and_folder_keywords")]

    operations = [migrations.RunPython(create, drop)]
