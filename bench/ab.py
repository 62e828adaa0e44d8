# ruff: noqa: E501
"""Before/after of a fix, under the same machine conditions: two imapd processes side by side.

    bench/work/venv/bin/python bench/ab.py --patch bench/patches/p1-coalesce-writes.diff \
        --scenario sync --clients 1 --rounds 4 [--scenario read --clients 10 ...]

Runs after a suite run (it reuses the loaded `mailkite_bench` database and the snapshot of the code):
imapd "before" (the snapshot) and "after" (the snapshot with the patches) serve the same database on
two ports, and each scenario alternates between them (A B B A ...), so other load on the machine hits
both alike. Prints the median of each latency label over the rounds, and writes bench/results/ab-*.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import ROOT, VENV_PY, WORK, Ours, Redis, tls_files
from suite import RESULTS, Suite


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patch", action="append", required=True)
    parser.add_argument("--scenario", action="append", required=True, help="loadgen scenario, e.g. sync")
    parser.add_argument("--clients", action="append", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args()
    before_args = SimpleNamespace(
        tree=False,
        commit=args.commit,
        patch=None,
        quick=True,
        messages=None,
        clients=None,
        idle_max=None,
        duration=args.duration,
        only=None,
        seed=1,
        attachment_share=0.005,
        skip_dovecot=True,
        profile=False,
    )
    suite = Suite(before_args)  # type: ignore[arg-type]
    before = suite.source()
    suite.args = SimpleNamespace(**{**vars(before_args), "patch": args.patch})
    after = suite.source()
    suite.src = before
    redis = Redis()
    redis.start()
    suite.redis = redis
    suite.env = suite.our_env()
    done = suite.django("bench/ourside.py", "setup", "--fresh", "0")
    if done.returncode:
        redis.stop()
        raise SystemExit(f"ourside setup failed: {done.stderr[-2000:]}")
    account = json.loads(done.stdout.strip().splitlines()[-1])
    servers = {
        "before": Ours(suite.env, 19993, before),
        "after": Ours({**suite.env, "BENCH_SRC": str(after)}, 19994, after),
    }
    tls = tls_files()
    results: dict[str, dict[str, list]] = {}
    try:
        for server in servers.values():
            server.start()
        for scenario, clients in zip(args.scenario, args.clients, strict=True):
            key = f"{scenario}@{clients}"
            results[key] = {"before": [], "after": []}
            for round_ in range(-1, args.rounds):  # round -1 warms both servers up and is discarded
                order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
                for name in order:
                    server = servers[name]
                    target = {
                        "name": name,
                        "host": "127.0.0.1",
                        "port": server.port,
                        "cafile": tls["ca"],
                        "user": "reader",
                        "password": account["password"],
                        "server_pid": server.pid,
                        "address": account["address"],
                        "deliver": {
                            "kind": "django",
                            "argv": [str(VENV_PY), str(ROOT / "bench" / "ourside.py"), "deliver-loop"],
                            "env": suite.env,
                        },
                    }
                    # "idle": memory of N idlers on the small idle INBOX; "idlepush": N idlers on the
                    # reader's INBOX and the delay of 4 pushes (2 deliveries, 2 flag changes).
                    spec = {
                        "target": target,
                        "scenario": "idle" if scenario == "idlepush" else scenario,
                        "clients": clients,
                        "duration": args.duration,
                        "iterations": 2,
                        "rounds": 2,
                        "max_ops": clients * 5000,
                        "events": 4 if scenario == "idlepush" else 0,
                        "push_timeout": 30,
                        "idle_user": ["idle", account["idle_password"]] if scenario == "idle" else None,
                    }
                    if round_ < 0 and scenario.startswith("idle"):
                        continue  # no warm-up needed, and 1,000 idlers are slow to set up
                    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=WORK, delete=False) as handle:
                        json.dump(spec, handle)
                    out = subprocess.run(
                        [str(VENV_PY), str(ROOT / "bench" / "loadgen.py"), handle.name],
                        capture_output=True,
                        text=True,
                        timeout=900,
                    )
                    Path(handle.name).unlink()
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    if round_ >= 0:
                        results[key][name].append(result)
            print(f"== {key} (median of {args.rounds} rounds; {', '.join(args.patch)})")
            labels = list(results[key]["before"][0]["latency"])
            for label in labels:
                row = []
                for name in ("before", "after"):
                    p50 = statistics.median(
                        r["latency"].get(label, {}).get("p50_ms", 0) for r in results[key][name]
                    )
                    rate = statistics.median(
                        r["latency"].get(label, {}).get("per_s", 0) for r in results[key][name]
                    )
                    row.append(f"{name} p50 {p50:.1f} ms, {rate:.1f}/s")
                print(f"  {label}: " + " | ".join(row))
            for name in ("before", "after"):
                infos = [r.get("info", {}) for r in results[key][name]]
                pushes = [r["latency"].get("push (both)", {}).get("p95_ms") for r in results[key][name]]
                if any(pushes):
                    print(f"  {name}: push p95 {statistics.median(p for p in pushes if p):.0f} ms")
                if infos and "pss_per_idle_conn" in infos[0]:
                    print(
                        f"  {name}: PSS per idle connection {statistics.median(i['pss_per_idle_conn'] for i in infos) / 1024:.0f} KiB"
                    )
                if infos and "fetch_lines_per_resync" in infos[0]:
                    print(
                        f"  {name}: FETCH lines per resync {statistics.median(i['fetch_lines_per_resync'] for i in infos)}"
                    )
    finally:
        for server in servers.values():
            server.stop()
        redis.stop()
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        (RESULTS / f"ab-{stamp}.json").write_text(
            json.dumps({"patches": args.patch, "results": results}, indent=1)
        )
        shutil.rmtree(WORK / "ab-tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
