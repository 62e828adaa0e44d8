# ruff: noqa: E501
"""The whole comparison in one run: corpus, both servers, every scenario, RESULTS.md.

Run it through bench/run (which makes the virtual environment and installs Dovecot):

    bench/run                     # 10,000 messages, 1/10/100 clients, 10,000 idle connections (~30 min)
    bench/run --quick             # 2,000 messages, 1/10 clients, 1,000 idle connections (a few minutes)
    bench/run --messages 100000   # the 100,000-message corpus (search and SELECT targets)
    bench/run --only sync,read    # some scenarios (names: ingest login sync resync read search
                                  # select idle); --skip-dovecot; --profile (py-spy on imapd)

Each scenario runs against this server and then Dovecot, level by level, so both see the same
machine state. Results: bench/results/<stamp>.json (everything measured) and bench/RESULTS.md
(generated from it by bench/report.py; never edit it by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus as corpus_mod
import report
from servers import ROOT, VENV_PY, WORK, Dovecot, Ours, Redis, tls_files

BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
DB_NAME = "mailkite_bench"
OUR_PORT = 19993
DOVECOT_PORT = 10993
INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")


def log(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.messages = args.messages or (2000 if self.quick else 10_000)
        self.levels = [int(x) for x in (args.clients or ("1,10" if self.quick else "1,10,100")).split(",")]
        self.idle_levels = [1, 10, 100] if self.quick else [1, 10, 100, 1000]
        self.idle_max = args.idle_max or (1000 if self.quick else 10_000)
        self.duration = args.duration or (5 if self.quick else 10)
        self.fresh = 120 if self.quick else 400
        self.only = set(args.only.split(",")) if args.only else None
        self.results: dict[str, Any] = {"scenarios": {}, "notes": []}
        self.redis = Redis()
        self.tls = tls_files()
        self.corpus_dir = WORK / f"corpus-{self.messages}-s{args.seed}-a{args.attachment_share}"
        self.env: dict[str, str] = {}
        self.ours: Ours | None = None
        self.dovecot: Dovecot | None = None
        self.targets: dict[str, dict[str, Any]] = {}
        self.inotify_before: str | None = None

    def source(self) -> Path:
        """The project code under test. By default a read-only snapshot of a commit (git archive,
        which changes no git state), so engineers editing the working tree do not change the code
        mid-run; --tree uses the working tree as it is; --patch FILE applies a diff to a copy of
        the snapshot (how fixes are measured before they are committed)."""
        if self.args.tree:
            self.results["source"] = {"tree": "working tree", "dirty": True}
            return ROOT
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", self.args.commit],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        base = WORK / f"src-{commit[:12]}"
        if not (base / "manage.py").exists():
            base.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        self.results["source"] = {"commit": commit, "patches": [str(p) for p in self.args.patch or []]}
        if not self.args.patch:
            return base
        patched = WORK / f"src-{commit[:12]}-patched"
        shutil.rmtree(patched, ignore_errors=True)
        shutil.copytree(base, patched)
        for patch in self.args.patch:
            subprocess.run(
                ["patch", "-s", "-p1", "-d", str(patched), "-i", str(Path(patch).resolve())], check=True
            )
        return patched

    def wants(self, name: str) -> bool:
        return self.only is None or name in self.only

    # -- setup -----------------------------------------------------------------------------------

    def machine(self) -> dict[str, Any]:
        def out(*argv: str) -> str:
            try:
                return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
            except OSError:
                return "not found"

        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        mem = (
            int(
                next(
                    line.split()[1]
                    for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")
                )
            )
            * 1024
        )
        import ssl

        return {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "memory_gib": round(mem / 2**30, 1),
            "kernel": platform.release(),
            "os": out("sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"),
            "python": platform.python_version(),
            "openssl": ssl.OPENSSL_VERSION,
            "django": out(str(VENV_PY), "-c", "import django; print(django.get_version())"),
            "postgresql": out("psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"),
            "redis": out("redis-server", "--version"),
            "dovecot": Dovecot.version() if shutil.which("dovecot") else "not installed",
        }

    def our_env(self) -> dict[str, str]:
        data = WORK / "var"
        return {
            "DJANGO_SETTINGS_MODULE": "mailkite.settings",
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
            "REDIS_URL": self.redis.url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
            "ALLOWED_HOSTS": "localhost",
            "TLS_CERT": self.tls["cert"],
            "TLS_KEY": self.tls["key"],
            "MAILKITE_DATA_DIR": str(data),
            "BLOB_DIR": str(data / "blobs"),
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
            # imapd processes sharing the port; code from before IMAP_WORKERS ignores it (one).
            "IMAP_WORKERS": str(self.args.imapd_workers),
            "IMAP_BIND_HOST": "127.0.0.1",
            # Every bench client comes from 127.0.0.1 to a few mailboxes, 10,000 idlers at once:
            # lift the per-address and per-worker caps as the Dovecot side lifts
            # mail_max_userip_connections (older code ignores these).
            "IMAP_MAX_CONNECTIONS": "30000",
            "IMAP_MAX_UNAUTHENTICATED_PER_ADDRESS": "30000",
            "IMAP_MAX_USERIP_CONNECTIONS": "30000",
            "IMAP_LOGIN_SHARE": "1000",
            "BENCH_SRC": str(self.src),
        }

    def django(self, *argv: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        args = [str(ROOT / a) if a.startswith("bench/") else a for a in argv]
        return subprocess.run(
            [str(VENV_PY), *args],
            env={**os.environ, **self.env},
            cwd=self.src,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def setup_ours(self, manifest: dict[str, Any]) -> dict[str, Any]:
        log(f"this server: fresh database {DB_NAME}, migrate, account, {self.fresh} app-passwords")
        for argv in (["dropdb", "--if-exists", "--force"], ["createdb"]):
            subprocess.run([*argv, "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
        shutil.rmtree(WORK / "var", ignore_errors=True)
        done = self.django("manage.py", "migrate", "--noinput")
        if done.returncode:
            raise RuntimeError(f"migrate failed: {done.stderr[-2000:]}")
        done = self.django("bench/ourside.py", "setup", "--fresh", str(self.fresh))
        if done.returncode:
            raise RuntimeError(f"setup failed: {done.stderr[-2000:]}")
        account = json.loads(done.stdout.strip().splitlines()[-1])
        ingest: dict[str, Any] = {}
        for folder, path in (
            ("INBOX", self.corpus_dir / "Maildir"),
            ("Sent", self.corpus_dir / "Maildir" / ".Sent"),
        ):
            count = manifest["folders"][folder]["messages"]
            log(f"this server: import_mail {count} messages into {folder}")
            started = time.monotonic()
            done = self.django(
                "manage.py", "import_mail", "--to", account["address"], "--folder", folder, str(path)
            )
            seconds = time.monotonic() - started
            if done.returncode:
                raise RuntimeError(f"import_mail failed: {done.stdout[-1000:]} {done.stderr[-3000:]}")
            ingest[f"import_mail {folder}"] = {
                "messages": count,
                "seconds": round(seconds, 1),
                "per_s": round(count / seconds, 1),
                "output": done.stdout.strip()[-300:],
            }
            log(f"  {done.stdout.strip()[-200:]} in {seconds:.1f}s = {count / seconds:.0f} msg/s")
        self.results["ingest_load"] = ingest
        small = self.corpus_dir / "small"
        if not small.exists():
            (small / "cur").mkdir(parents=True)
            for sub in ("new", "tmp"):
                (small / sub).mkdir()
            for path in sorted((self.corpus_dir / "Maildir" / "cur").iterdir())[:20]:
                shutil.copy2(path, small / "cur" / path.name)
        done = self.django("manage.py", "import_mail", "--to", account["idle_address"], str(small))
        if done.returncode:
            raise RuntimeError(f"import_mail (idle) failed: {done.stderr[-2000:]}")
        return account

    def setup_dovecot(self, account: dict[str, Any]) -> Dovecot | None:
        why = Dovecot.available()
        if why or self.args.skip_dovecot:
            self.results["notes"].append(f"Dovecot not measured: {why or '--skip-dovecot'}")
            return None
        import argon2

        hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=argon2.Type.ID)
        log(f"Dovecot: passwd-file with argon2id hashes for {self.fresh + 2} users, Maildir copy")
        users = [
            ("reader", hasher.hash(account["password"]), "reader"),
            ("idle", hasher.hash(account["idle_password"]), "idle"),
            ("ingest", hasher.hash(account["password"]), "ingest"),
        ]
        self.dovecot_fresh = [
            [f"fresh{i}", f"bench-fresh-password-{i}-{os.urandom(8).hex()}"] for i in range(self.fresh)
        ]
        users += [(u, hasher.hash(p), "reader") for u, p in self.dovecot_fresh]
        dovecot = Dovecot(DOVECOT_PORT, self.tls)
        dovecot.prepare(self.corpus_dir, users)
        self.raise_inotify()
        dovecot.start()
        return dovecot

    def raise_inotify(self) -> None:
        """Dovecot's IDLE watches each mailbox with one inotify instance per imap process; the
        kernel's default of 128 per user would make idlers past the 128th fall back to polling
        every 30 s. Raise it for the run (restored at the end); an admin running Dovecot does."""
        try:
            self.inotify_before = INOTIFY.read_text().strip()
            if int(self.inotify_before) < 20000:
                INOTIFY.write_text("20000")
                self.results["notes"].append(
                    f"fs.inotify.max_user_instances raised from {self.inotify_before} to 20000 for Dovecot's IDLE, "
                    "restored afterwards"
                )
        except OSError as error:
            self.inotify_before = None
            self.results["notes"].append(
                f"could not raise fs.inotify.max_user_instances ({error}); "
                "Dovecot idlers past 128 fall back to 30 s polling"
            )

    def restore_inotify(self) -> None:
        if self.inotify_before is not None:
            try:
                INOTIFY.write_text(self.inotify_before)
            except OSError:
                pass

    # -- running scenarios -----------------------------------------------------------------------

    def load(
        self, target: str, scenario: str, clients: int, timeout: float | None = None, **spec: Any
    ) -> dict[str, Any]:
        body = {
            "target": self.targets[target],
            "scenario": scenario,
            "clients": clients,
            "duration": self.duration,
            **spec,
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=WORK, delete=False) as handle:
            json.dump(body, handle)
        limit = timeout or body["duration"] + 300
        try:
            done = subprocess.run(
                [str(VENV_PY), str(BENCH / "loadgen.py"), handle.name],
                capture_output=True,
                text=True,
                timeout=limit,
            )
            if done.returncode:
                return {
                    "errors": 1,
                    "error_samples": [done.stderr[-1500:]],
                    "latency": {},
                    "clients": clients,
                }
            return json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            return {
                "errors": 1,
                "error_samples": [f"load generator killed after {limit:.0f}s"],
                "latency": {},
                "clients": clients,
            }
        finally:
            os.unlink(handle.name)

    def record(self, key: str, target: str, level: str | int, result: dict[str, Any]) -> None:
        # Other work on the machine (another engineer's test run) shows up here: ratios are
        # side by side, but a busy machine widens every latency.
        result["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
        self.results["scenarios"].setdefault(key, {}).setdefault(target, {})[str(level)] = result
        lat = result.get("latency", {})
        main = ", ".join(
            f"{k} p50 {v['p50_ms']}ms p95 {v['p95_ms']}ms ({v['count']}, {v['per_s']}/s)"
            for k, v in list(lat.items())[:3]
        )
        errs = f" errors={result.get('errors')}" if result.get("errors") else ""
        log(f"  {key} {target} @{level}: {main}{errs}")
        if result.get("errors"):
            for sample in result.get("error_samples", [])[:2]:
                log(f"     ! {sample[:300]}")
        self.save()

    def each_target(self) -> list[str]:
        return [t for t in ("mailkite", "dovecot") if t in self.targets]

    def save(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.results_path.write_text(json.dumps(self.results, indent=1))

    def profile(self, name: str, seconds: float) -> subprocess.Popen | None:
        if not self.args.profile or self.ours is None:
            return None
        out = RESULTS / "profiles"
        out.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                str(WORK / "venv" / "bin" / "py-spy"),
                "record",
                "--pid",
                str(self.ours.pid),
                "--subprocesses",  # with --imapd-workers > 1 the work is in the supervisor's children
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(out / f"{name}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def run(self) -> None:
        started = time.monotonic()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.results_path = RESULTS / f"{stamp}{'-quick' if self.quick else ''}-{self.messages}.json"
        WORK.mkdir(parents=True, exist_ok=True)
        self.results["machine"] = self.machine()
        self.results["started"] = stamp
        self.results["params"] = {
            "messages": self.messages,
            "seed": self.args.seed,
            "attachment_share": self.args.attachment_share,
            "levels": self.levels,
            "idle_levels": self.idle_levels,
            "idle_max": self.idle_max,
            "duration_s": self.duration,
            "quick": self.quick,
            "fresh_passwords": self.fresh,
            "imapd_workers": self.args.imapd_workers,
        }
        log(
            f"corpus: {self.messages} messages, seed {self.args.seed}, big-attachment share {self.args.attachment_share}"
        )
        manifest = corpus_mod.generate(
            self.corpus_dir, self.messages, self.args.seed, self.args.attachment_share
        )
        self.results["corpus"] = manifest
        self.src = self.source()
        log(f"code under test: {self.results['source']}")
        self.redis.start()
        self.env = self.our_env()
        try:
            account = self.setup_ours(manifest)
            self.ours = Ours(self.env, OUR_PORT, self.src)
            self.ours.start()
            common = {
                "host": "127.0.0.1",
                "cafile": self.tls["ca"],
                "user": "reader",
                "password": account["password"],
            }
            self.targets["mailkite"] = {
                **common,
                "name": "mailkite",
                "port": OUR_PORT,
                "server_pid": self.ours.pid,
                "address": account["address"],
                "deliver": {
                    "kind": "django",
                    "argv": [
                        str(VENV_PY),
                        str(BENCH / "ourside.py"),
                        "deliver-loop",
                        "--to",
                        account["address"],
                    ],
                    "env": self.env,
                },
            }
            self.our_fresh = [["anyone", p] for p in account["fresh"]]
            self.idle_creds = {
                "mailkite": ["idle", account["idle_password"]],
                "dovecot": ["idle", account["idle_password"]],
            }
            self.dovecot = self.setup_dovecot(account)
            if self.dovecot is not None:
                self.targets["dovecot"] = {
                    **common,
                    "name": "dovecot",
                    "port": DOVECOT_PORT,
                    "server_pid": self.dovecot.pid,
                    "address": account["address"],
                    "deliver": {"kind": "maildir", "maildir": str(self.dovecot.maildir("reader"))},
                }
            for name in ("ingest", "login", "sync", "select", "resync", "read", "search", "idle"):
                if self.wants(name):
                    log(f"scenario {name}")
                    getattr(self, f"s_{name}")(account)
        finally:
            if self.ours is not None:
                self.ours.stop()
            if self.dovecot is not None:
                self.dovecot.stop()
            self.restore_inotify()
            self.redis.stop()
            self.results["seconds"] = round(time.monotonic() - started)
            self.save()
            # A full run of the unpatched code writes RESULTS.md; a partial (--only) or patched run
            # writes its report next to its JSON, so RESULTS.md always shows one whole comparison.
            partial = bool(self.args.only or self.args.patch or self.args.tree)
            page = self.results_path.with_suffix(".md") if partial else BENCH / "RESULTS.md"
            page.write_text(report.render(self.results, self.results_path.name, report.newest_large(RESULTS)))
            log(
                f"wrote {self.results_path.relative_to(ROOT)} and {page.relative_to(ROOT)} in {self.results['seconds']}s"
            )

    def restart_ours(self, **kwargs: Any) -> None:
        assert self.ours is not None
        self.ours.restart(**kwargs)
        self.targets["mailkite"]["server_pid"] = self.ours.pid

    def restart_dovecot(self, drop_indexes: bool = False) -> None:
        if self.dovecot is not None:
            self.dovecot.restart(drop_indexes=drop_indexes)
            self.targets["dovecot"]["server_pid"] = self.dovecot.pid

    # -- scenarios -------------------------------------------------------------------------------

    def s_ingest(self, account: dict[str, Any]) -> None:
        count = 100 if self.quick else 300
        done = self.django(
            "bench/ourside.py", "ingest-warm", "--corpus", str(self.corpus_dir), "--count", str(count)
        )
        warm = (
            json.loads(done.stdout.strip().splitlines()[-1])
            if done.returncode == 0
            else {"error": done.stderr[-500:]}
        )
        log(f"  ingest.deliver in a warm process: {warm}")
        files = sorted((self.corpus_dir / "Maildir" / "cur").iterdir())[:10]
        started = time.monotonic()
        for path in files:
            done = self.django("manage.py", "deliver", "--to", account["ingest_address"], str(path))
        cli = {
            "messages": len(files),
            "seconds": round(time.monotonic() - started, 2),
            "per_s": round(len(files) / (time.monotonic() - started), 2),
            "last_exit": done.returncode,
        }
        log(f"  manage.py deliver, one process per message: {cli}")
        result: dict[str, Any] = {
            "mailkite": {
                "ingest.deliver (warm process)": warm,
                "manage.py deliver (process per message)": cli,
                **self.results.get("ingest_load", {}),
            }
        }
        if self.dovecot is not None:
            started = time.monotonic()
            code = 0
            for path in files:
                with open(path, "rb") as handle:
                    code = subprocess.run(
                        [
                            "/usr/lib/dovecot/dovecot-lda",
                            "-c",
                            str(self.dovecot.conf),
                            "-d",
                            "ingest",
                            "-f",
                            "sender@bench.example",
                        ],
                        stdin=handle,
                        capture_output=True,
                    ).returncode
            lda = {
                "messages": len(files),
                "seconds": round(time.monotonic() - started, 2),
                "per_s": round(len(files) / (time.monotonic() - started), 2),
                "last_exit": code,
            }
            log(f"  dovecot-lda, one process per message: {lda}")
            result["dovecot"] = {"dovecot-lda (process per message)": lda}
        self.results["scenarios"]["ingest"] = result
        self.save()

    def s_login(self, account: dict[str, Any]) -> None:
        for target in self.each_target():
            self.load(target, "login", 1, duration=2, max_ops=5)  # warm the verification caches
        for mode in ("cached", "fresh"):
            pool = {"mailkite": list(self.our_fresh), "dovecot": list(getattr(self, "dovecot_fresh", []))}
            for level in self.levels:
                for target in self.each_target():
                    if mode == "fresh":
                        share = max(level * 2, len(self.our_fresh) // len(self.levels))
                        fresh, pool[target] = pool[target][:share], pool[target][share:]
                        result = self.load(target, "login", level, mode=mode, fresh=fresh, duration=30)
                    else:
                        result = self.load(target, "login", level, mode=mode, max_ops=level * 200)
                    self.record(f"login-{mode}", target, level, result)

    def s_sync(self, account: dict[str, Any]) -> None:
        # Cold: the first sync after a restart (this server: no snapshot in memory; Dovecot: its
        # index and cache files deleted, so it reads every message file again).
        self.restart_ours()
        self.restart_dovecot(drop_indexes=True)
        for target in self.each_target():
            self.record(
                "sync-cold", target, 1, self.load(target, "sync", 1, iterations=1, duration=600, timeout=900)
            )
        iterations = {1: 5, 10: 3}
        for level in self.levels:
            for target in self.each_target():
                prof = self.profile(f"sync-{level}", 20) if target == "mailkite" and level == 10 else None
                result = self.load(
                    target, "sync", level, iterations=iterations.get(level, 1), duration=240, timeout=900
                )
                if prof:
                    prof.wait()
                self.record("sync-warm", target, level, result)

    def s_select(self, account: dict[str, Any]) -> None:
        for level in self.levels:
            for target in self.each_target():
                self.record(
                    "select",
                    target,
                    level,
                    self.load(target, "select", level, max_ops=max(20, level * 3), duration=60),
                )

    def s_resync(self, account: dict[str, Any]) -> None:
        rounds = {1: 5, 10: 3}
        for folder in ("INBOX", "Sent"):
            levels = self.levels if folder == "INBOX" else [1]
            for level in levels:
                for target in self.each_target():
                    result = self.load(
                        target, "resync", level, folder=folder, rounds=rounds.get(level, 2), duration=120
                    )
                    self.record(f"resync-{folder}", target, level, result)

    def s_read(self, account: dict[str, Any]) -> None:
        for level in self.levels:
            for target in self.each_target():
                prof = (
                    self.profile(f"read-{level}", self.duration)
                    if target == "mailkite" and level == 10
                    else None
                )
                result = self.load(target, "read", level, max_ops=level * 5000)
                if prof:
                    prof.wait()
                self.record("read", target, level, result)

    def s_search(self, account: dict[str, Any]) -> None:
        for level in self.levels:
            for target in self.each_target():
                max_ops = 12 if level == 1 else level * 2 if level <= 10 else level
                result = self.load(target, "search", level, max_ops=max_ops, duration=120, timeout=600)
                self.record("search", target, level, result)

    def s_idle(self, account: dict[str, Any]) -> None:
        for level in self.idle_levels:
            for target in self.each_target():
                result = self.load(target, "idle", level, events=6, duration=300, timeout=600)
                self.record("idle-push", target, level, result)
        # Memory per idle connection at full scale, on a small INBOX so that the setup measures the
        # connections (TLS, session, snapshot of a 20-message folder), not 10,000 large SELECTs.
        # Dovecot runs one imap process per connection, so its memory per idle connection is flat in
        # N (590 KiB at 1,000 and 585 KiB at 10,000 in our runs) while setting up 10,000 of them
        # costs ~12 minutes (argon2id in its single auth process): it is measured at
        # --dovecot-idle-max (2,000 by default) and compared per connection.
        # The target is about one imapd process holding them all, so this runs a single worker.
        for target in self.each_target():
            if target == "mailkite":
                self.restart_ours(extra_env={"IMAP_WORKERS": "1"})
            else:
                self.restart_dovecot()
            count = self.idle_max if target == "mailkite" else min(self.idle_max, self.args.dovecot_idle_max)
            result = self.load(
                target,
                "idle",
                count,
                idle_user=self.idle_creds[target],
                events=0,
                ramp=64,
                duration=900,
                timeout=1200,
            )
            self.record("idle-memory", target, self.idle_max, result)


def main() -> None:
    # SIGTERM (a CI timeout, `kill`) ends the run through the same path as Ctrl-C, so both servers
    # are stopped, the inotify limit restored and what was measured so far still reaches RESULTS.md.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    parser = argparse.ArgumentParser(description="MailKite IMAP benchmark against Dovecot")
    parser.add_argument("--quick", action="store_true", help="2,000 messages, 1 and 10 clients, 1,000 idlers")
    parser.add_argument("--messages", type=int, help="corpus size (default 10,000; 2,000 with --quick)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--attachment-share",
        type=float,
        default=0.005,
        help="share of messages with a 1-5 MB attachment (default 0.005)",
    )
    parser.add_argument("--clients", help="client levels, e.g. 1,10,100")
    parser.add_argument("--idle-max", type=int, help="idle connections for the memory measurement")
    parser.add_argument("--duration", type=float, help="seconds per throughput level")
    parser.add_argument(
        "--dovecot-idle-max",
        type=int,
        default=2000,
        help="idle connections for Dovecot's memory measurement (default 2,000; flat per connection)",
    )
    parser.add_argument("--only", help="comma-separated scenarios")
    parser.add_argument(
        "--imapd-workers",
        type=int,
        default=2,
        help="imapd processes sharing the port (IMAP_WORKERS; default 2, this machine's core count)",
    )
    parser.add_argument("--skip-dovecot", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy raw profiles of imapd under load")
    parser.add_argument("--commit", default="HEAD", help="the commit to measure (a snapshot; default HEAD)")
    parser.add_argument("--tree", action="store_true", help="measure the working tree as it is instead")
    parser.add_argument("--patch", action="append", help="apply this diff to the snapshot first (repeatable)")
    Suite(parser.parse_args()).run()


if __name__ == "__main__":
    main()
