# ruff: noqa: E501
"""SEARCH TEXT/BODY with and without a trigram index, at the SQL level, on the bench database.

    bench/work/venv/bin/python bench/search_index.py [--db mailkite_bench]

Runs the SQL that imapd's `UID SEARCH TEXT "quokka"` / `BODY "zanzibar"` / `BODY "xylophone"`
compile to (Django's `icontains` on PostgreSQL is `UPPER(col::text) LIKE UPPER('%word%')`), timed
with EXPLAIN ANALYZE, then creates GIN trigram indexes on exactly those expressions, runs them again,
and drops the indexes: the database is left as it was. Prints the before/after times and plans.
The text lives in mail_messagetext (migration mail 0005), joined one-to-one as Django does. Since
migration mail 0004 the database has such indexes already, so "before" is only "without" on a
database where they were dropped by hand.
"""

from __future__ import annotations

import argparse
import re
import time

import psycopg

QUERIES = {
    "TEXT quokka": "(UPPER(t.headers_text::text) LIKE UPPER('%quokka%') OR UPPER(t.body_text::text) LIKE UPPER('%quokka%'))",
    "BODY zanzibar": "UPPER(t.body_text::text) LIKE UPPER('%zanzibar%')",
    "BODY xylophone": "UPPER(t.body_text::text) LIKE UPPER('%xylophone%')",
}
INDEXES = {
    "bench_trgm_body": "CREATE INDEX bench_trgm_body ON mail_messagetext USING gin (UPPER(body_text::text) gin_trgm_ops)",
    "bench_trgm_headers": "CREATE INDEX bench_trgm_headers ON mail_messagetext USING gin (UPPER(headers_text::text) gin_trgm_ops)",
}


def run(cur: psycopg.Cursor, folder: int, repeat: int = 5) -> dict[str, tuple[float, int, str]]:
    out = {}
    for name, where in QUERIES.items():
        sql = (
            "SELECT m.uid FROM mail_message m JOIN mail_messagetext t ON t.message_id = m.id "
            f"WHERE m.folder_id = {folder} AND {where} ORDER BY m.uid"
        )
        times = []
        for _ in range(repeat):
            cur.execute("EXPLAIN (ANALYZE, FORMAT TEXT) " + sql)
            plan = "\n".join(r[0] for r in cur.fetchall())
            times.append(float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1)))  # type: ignore[union-attr]
        cur.execute(sql)
        hits = len(cur.fetchall())
        node = next((line.strip() for line in plan.splitlines() if "Scan" in line), "")
        out[name] = (sorted(times)[len(times) // 2], hits, node)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="mailkite_bench")
    args = parser.parse_args()
    with (
        psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{args.db}", autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT f.id, count(m.id) FROM mail_folder f JOIN mail_mailbox b ON b.id = f.mailbox_id "
            "JOIN mail_message m ON m.folder_id = f.id WHERE b.local_part = 'reader' AND f.name = 'INBOX' "
            "GROUP BY f.id"
        )
        folder, count = cur.fetchone()  # type: ignore[misc]
        print(f"INBOX folder {folder}: {count} messages")
        before = run(cur, folder)
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        started = time.monotonic()
        for sql in INDEXES.values():
            cur.execute(sql)
        build = time.monotonic() - started
        cur.execute("ANALYZE mail_messagetext")
        try:
            after = run(cur, folder)
        finally:
            for name in INDEXES:
                cur.execute(f"DROP INDEX IF EXISTS {name}")
        print(f"trigram indexes built in {build:.1f} s (dropped again)")
        for name in QUERIES:
            b, a = before[name], after[name]
            print(f"{name}: {b[0]:.1f} ms ({b[1]} hits; {b[2]}) -> {a[0]:.1f} ms ({a[1]} hits; {a[2]})")


if __name__ == "__main__":
    main()
