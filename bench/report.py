# ruff: noqa: E501
"""bench/RESULTS.md from a results JSON (written by suite.py; re-render with
`bench/work/venv/bin/python bench/report.py bench/results/X.json`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def _get(results: dict[str, Any], key: str, target: str, level: Any) -> dict[str, Any]:
    return results.get("scenarios", {}).get(key, {}).get(target, {}).get(str(level), {})


def _lat(result: dict[str, Any], label: str, field: str) -> float | None:
    value = result.get("latency", {}).get(label, {}).get(field)
    return value if value else None


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:,.{digits}f}{unit}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def newest_large(directory: Path) -> dict[str, Any] | None:
    """The newest unpatched run on a 100,000-message (or larger) corpus, for the targets set at
    that size (search, SELECT); None when there is none."""
    for path in sorted(directory.glob("*.json"), reverse=True):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("params", {}).get("messages", 0) >= 100_000 and not data.get("source", {}).get("patches"):
            data["_file"] = path.name
            return data
    return None


def targets(results: dict[str, Any], large: dict[str, Any] | None = None) -> list[str]:
    r = results
    msgs = r.get("params", {}).get("messages")
    rows = ["| scenario | target | this server | Dovecot | ratio | verdict |", "|---|---|---|---|---|---|"]

    def row(
        name: str,
        target: str,
        ours: str,
        dov: str,
        ratio: float | None,
        ratio_text: str,
        ok: bool | None,
        size: int | None = None,
    ) -> None:
        verdict = _verdict(ok)
        if size is not None and size < 100_000 and ok is not None:
            verdict = f"{'met' if ok else 'missed'} at {size:,} (the target is set at 100,000)"
        rows.append(
            f"| {name} | {target} | {ours} | {dov} | {_fmt(ratio, '×', 2) if ratio else '–'} {ratio_text} | {verdict} |"
        )

    o = _lat(_get(r, "sync-warm", "mailkite", 1), "SELECT+FETCH", "p50_ms")
    d = _lat(_get(r, "sync-warm", "dovecot", 1), "SELECT+FETCH", "p50_ms")
    q = _ratio(o, d)
    row(
        "warm `sync`, whole INBOX, 1 client (p50)",
        "≤ 1.5× Dovecot's time",
        _fmt(o, " ms"),
        _fmt(d, " ms"),
        q,
        "(time, ours ÷ Dovecot)",
        None if q is None else q <= 1.5,
    )

    o = _lat(_get(r, "resync-INBOX", "mailkite", 1), "resync", "p50_ms")
    d = _lat(_get(r, "resync-INBOX", "dovecot", 1), "resync", "p50_ms")
    q = _ratio(o, d)
    row(
        "`resync` after 10 flag changes, 1 client (p50)",
        "≤ 1.5× Dovecot's time",
        _fmt(o, " ms"),
        _fmt(d, " ms"),
        q,
        "(time)",
        None if q is None else q <= 1.5,
    )
    big, small = _get(r, "resync-INBOX", "mailkite", 1), _get(r, "resync-Sent", "mailkite", 1)
    ob, os_ = _lat(big, "resync", "p50_ms"), _lat(small, "resync", "p50_ms")
    db, ds = (
        _lat(_get(r, "resync-INBOX", "dovecot", 1), "resync", "p50_ms"),
        _lat(_get(r, "resync-Sent", "dovecot", 1), "resync", "p50_ms"),
    )
    growth = _ratio(ob, os_)
    size_ratio = _ratio(big.get("info", {}).get("exists"), small.get("info", {}).get("exists"))
    lines = big.get("info", {}).get("fetch_lines_per_resync")
    dlines = _get(r, "resync-INBOX", "dovecot", 1).get("info", {}).get("fetch_lines_per_resync")
    row(
        f"`resync` independent of folder size (INBOX {big.get('info', {}).get('exists', '?')} vs Sent "
        f"{small.get('info', {}).get('exists', '?')} messages, {_fmt(size_ratio, '×')} larger)",
        "time does not grow with the folder",
        f"{_fmt(ob, ' ms')} vs {_fmt(os_, ' ms')}; {lines} FETCH lines per resync",
        f"{_fmt(db, ' ms')} vs {_fmt(ds, ' ms')}; {dlines} FETCH lines",
        growth,
        "(INBOX ÷ Sent, ours)",
        None if growth is None else growth <= 1.5 and (lines or 0) <= 20,
    )

    o = _lat(_get(r, "read", "mailkite", 10), "UID FETCH n BODY.PEEK[]", "per_s")
    d = _lat(_get(r, "read", "dovecot", 10), "UID FETCH n BODY.PEEK[]", "per_s")
    q = _ratio(o, d)
    row(
        "`read` throughput, 10 clients (FETCH BODY.PEEK[] + STORE \\Seen pairs/s)",
        "≥ 0.7× Dovecot's",
        _fmt(o, "/s"),
        _fmt(d, "/s"),
        q,
        "(throughput)",
        None if q is None else q >= 0.7,
    )

    for label in ("TEXT", "BODY", "BODY-miss"):
        o = _lat(_get(r, "search", "mailkite", 1), label, "p50_ms")
        d = _lat(_get(r, "search", "dovecot", 1), label, "p50_ms")
        q = _ratio(d, o)
        hits_o = _get(r, "search", "mailkite", 1).get("info", {}).get("hits", {}).get(label)
        hits_d = _get(r, "search", "dovecot", 1).get("info", {}).get("hits", {}).get(label)
        row(
            f"`search` {label} substring, {msgs:,} messages, 1 client (p50; hits {hits_o} / {hits_d})",
            "≥ 5× faster than Dovecot (target is at 100,000)",
            _fmt(o, " ms"),
            _fmt(d, " ms"),
            q,
            "(speed-up, Dovecot ÷ ours)",
            None if q is None else q >= 5,
            msgs,
        )

    if large and large.get("started") != r.get("started"):
        lm = large.get("params", {}).get("messages")
        for label in ("TEXT", "BODY", "BODY-miss"):
            o = _lat(_get(large, "search", "mailkite", 1), label, "p50_ms")
            d = _lat(_get(large, "search", "dovecot", 1), label, "p50_ms")
            q = _ratio(d, o)
            row(
                f"`search` {label} substring, {lm:,} messages, 1 client (p50; run {large['_file']})",
                "≥ 5× faster than Dovecot",
                _fmt(o, " ms"),
                _fmt(d, " ms"),
                q,
                "(speed-up, Dovecot ÷ ours)",
                None if q is None else q >= 5,
            )

    o = _lat(_get(r, "login-cached", "mailkite", 10), "connect+TLS+LOGIN+LOGOUT", "per_s")
    d = _lat(_get(r, "login-cached", "dovecot", 10), "connect+TLS+LOGIN+LOGOUT", "per_s")
    q = _ratio(o, d)
    row(
        "`login` with cached verification, 10 clients",
        "≥ 1× Dovecot's logins/s",
        _fmt(o, "/s"),
        _fmt(d, "/s"),
        q,
        "(throughput)",
        None if q is None else q >= 1,
    )

    idle_max = r.get("params", {}).get("idle_max")
    mo, md = _get(r, "idle-memory", "mailkite", idle_max), _get(r, "idle-memory", "dovecot", idle_max)
    o = mo.get("info", {}).get("pss_per_idle_conn")
    d = md.get("info", {}).get("pss_per_idle_conn")
    q = _ratio(d, o)
    held_o, held_d = mo.get("info", {}).get("idlers"), md.get("info", {}).get("idlers")
    row(
        f"`idle` memory per idle TLS connection, PSS ({held_o} held by one imapd process / {held_d} by Dovecot)",
        "one imapd process holds 10,000; ≤ 1/5 of Dovecot's",
        _fmt(o / 1024 if o else None, " KiB"),
        _fmt(d / 1024 if d else None, " KiB"),
        q,
        "(Dovecot ÷ ours)",
        None if q is None else q >= 5 and (held_o or 0) >= 10_000,
    )

    top = max(r.get("params", {}).get("idle_levels", [0]))
    o = _lat(_get(r, "idle-push", "mailkite", top), "push (both)", "p95_ms")
    d = _lat(_get(r, "idle-push", "dovecot", top), "push (both)", "p95_ms")
    q = _ratio(d, o)
    row(
        f"`idle` push delay, {top} idlers (p95, deliveries and flag changes)",
        "p95 ≤ 100 ms, ≥ 5× faster than Dovecot",
        _fmt(o, " ms"),
        _fmt(d, " ms"),
        q,
        "(Dovecot ÷ ours)",
        None if q is None or o is None else o <= 100 and q >= 5 and top >= 1000,
    )

    load = r.get("ingest_load", {})
    imp = load.get("import_mail INBOX", {}).get("per_s")
    warm = (
        r.get("scenarios", {})
        .get("ingest", {})
        .get("mailkite", {})
        .get("ingest.deliver (warm process)", {})
        .get("per_s")
    )
    row(
        "`ingest` into PostgreSQL, everything precomputed",
        "≥ 500 messages/s",
        f"import_mail {_fmt(imp, '/s')}; warm ingest.deliver {_fmt(warm, '/s')}",
        "–",
        None,
        "",
        None if imp is None else max(imp, warm or 0) >= 500,
    )

    sel = _get(r, "select", "mailkite", 1)
    o = _lat(sel, "SELECT", "p95_ms")
    d = _lat(_get(r, "select", "dovecot", 1), "SELECT", "p95_ms")
    inbox = r.get("corpus", {}).get("folders", {}).get("INBOX", {}).get("messages")
    row(
        f"SELECT of a {inbox:,}-message INBOX, 1 client (p95; target is at 100,000)"
        if inbox
        else "SELECT (p95)",
        "p95 ≤ 200 ms",
        _fmt(o, " ms"),
        _fmt(d, " ms"),
        _ratio(o, d),
        "(time)",
        None if o is None else o <= 200,
        msgs,
    )
    if large and large.get("started") != r.get("started"):
        o = _lat(_get(large, "select", "mailkite", 1), "SELECT", "p95_ms")
        d = _lat(_get(large, "select", "dovecot", 1), "SELECT", "p95_ms")
        n = large.get("corpus", {}).get("folders", {}).get("INBOX", {}).get("messages", 0)
        row(
            f"SELECT of a {n:,}-message INBOX, 1 client (p95; run {large['_file']})",
            "p95 ≤ 200 ms",
            _fmt(o, " ms"),
            _fmt(d, " ms"),
            _ratio(o, d),
            "(time)",
            None if o is None else o <= 200,
        )
    return rows


def scenario_tables(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, per_target in results.get("scenarios", {}).items():
        if key == "ingest":
            continue
        out += [f"### {key}", ""]
        labels: list[str] = []
        for per_level in per_target.values():
            for result in per_level.values():
                for label in result.get("latency", {}):
                    if label not in labels:
                        labels.append(label)
        levels = sorted({lvl for per_level in per_target.values() for lvl in per_level}, key=int)
        out.append(
            "| command | clients | this server p50 / p95 / p99 ms | ops/s | Dovecot p50 / p95 / p99 ms | ops/s "
            "| p50 ratio (ours ÷ Dovecot) | errors (ours / Dovecot) | server RSS peak MiB (ours / Dovecot) |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|")
        for label in labels:
            for level in levels:
                o = per_target.get("mailkite", {}).get(level, {})
                d = per_target.get("dovecot", {}).get(level, {})
                lo, ld = o.get("latency", {}).get(label), d.get("latency", {}).get(label)
                if not lo and not ld:
                    continue

                def trio(x: dict[str, Any] | None) -> str:
                    return (
                        "–" if not x else f"{_fmt(x['p50_ms'])} / {_fmt(x['p95_ms'])} / {_fmt(x['p99_ms'])}"
                    )

                ratio = _ratio(lo and lo["p50_ms"], ld and ld["p50_ms"])
                rss = f"{_fmt((o.get('server_rss_peak') or 0) / MB)} / {_fmt((d.get('server_rss_peak') or 0) / MB) if d else '–'}"
                out.append(
                    f"| {label} | {level} | {trio(lo)} | {_fmt(lo and lo['per_s'])} | {trio(ld)} | "
                    f"{_fmt(ld and ld['per_s'])} | {_fmt(ratio, '×', 2)} | {o.get('errors', '–')} / {d.get('errors', '–')} | {rss} |"
                )
        infos = []
        for target, per_level in per_target.items():
            for level, result in per_level.items():
                info = {k: v for k, v in result.get("info", {}).items() if k != "hits"} | (
                    {"hits": result["info"]["hits"]} if "hits" in result.get("info", {}) else {}
                )
                cpu = (
                    f"server CPU {result.get('server_cpu_s')} s, client CPU {result.get('client_cpu_s')} s, "
                    f"wall {result.get('wall_s')} s, load average after {result.get('loadavg_1m_after', '?')}"
                )
                infos.append(f"- {target} @{level}: {cpu}" + (f"; {json.dumps(info)}" if info else ""))
                for sample in result.get("error_samples", [])[:2]:
                    infos.append(f"  - error: `{sample[:200].replace('|', '/').replace('`', '')}`")
        out += ["", *infos, ""]
    return out


def _source(results: dict[str, Any]) -> str:
    src = results.get("source", {})
    if "commit" in src:
        patches = src.get("patches") or []
        return f"commit {src['commit'][:12]}" + (f" with {', '.join(patches)} applied" if patches else "")
    return "the working tree (uncommitted changes included)"


def render(results: dict[str, Any], source: str, large: dict[str, Any] | None = None) -> str:
    m = results.get("machine", {})
    p = results.get("params", {})
    c = results.get("corpus", {})
    lines = [
        "# MailKite IMAP benchmark results",
        "",
        f"Generated by `bench/run` from `bench/results/{source}`; do not edit by hand. How to run and what each "
        "scenario does: bench/README.md.",
        "",
        "## Machine and versions",
        "",
        f"- {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('os')}, Linux {m.get('kernel')}",
        f"- Python {m.get('python')}, Django {m.get('django')}, {m.get('openssl')}, PostgreSQL {m.get('postgresql')}, "
        f"{m.get('redis')}",
        f"- Dovecot {m.get('dovecot')}",
        f"- code under test: {_source(results)}; run started "
        f"{results.get('started')}, took {results.get('seconds')} s",
        "",
        "## Corpus and parameters",
        "",
        f"- {c.get('messages', 0):,} messages (seed {c.get('seed')}): INBOX {c.get('folders', {}).get('INBOX', {}).get('messages')}, "
        f"Sent {c.get('folders', {}).get('Sent', {}).get('messages')}; {c.get('bytes', 0) / MB:,.0f} MiB; "
        f"{c.get('big_attachments')} messages with a 1-5 MB attachment (share {c.get('attachment_share')})",
        f"- shapes: {', '.join(f'{k} {v}' for k, v in sorted(c.get('shapes', {}).items()))}",
        f"- client levels {p.get('levels')}, idle push levels {p.get('idle_levels')}, idle memory at {p.get('idle_max')} "
        f"connections, {p.get('duration_s')} s per throughput level{', quick mode' if p.get('quick') else ''}",
        *[f"- note: {n}" for n in results.get("notes", [])],
        "",
        "## Targets (issue 6)",
        "",
        *targets(results, large),
        "",
        "Ratios are measured side by side in this run. A missed target's cause and next step are in "
        "bench/README.md (Findings).",
        "",
        "## Ingest",
        "",
    ]
    for target, rows in results.get("scenarios", {}).get("ingest", {}).items():
        for name, value in rows.items():
            if isinstance(value, dict):
                lines.append(
                    f"- {target}: {name}: {value.get('messages')} messages in {value.get('seconds')} s = "
                    f"**{value.get('per_s')} msg/s**"
                )
    if "ingest" not in results.get("scenarios", {}):
        for name, value in results.get("ingest_load", {}).items():
            lines.append(
                f"- mailkite: {name}: {value.get('messages')} messages in {value.get('seconds')} s = **{value.get('per_s')} msg/s**"
            )
    lines += ["", "## Every scenario", "", *scenario_tables(results)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    path = Path(sys.argv[1])
    data = json.loads(path.read_text())
    here = Path(__file__).resolve().parent
    (here / "RESULTS.md").write_text(render(data, path.name, newest_large(here / "results")))
