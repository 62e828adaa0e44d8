"""The load generator: one scenario against one server, in its own process, JSON out.

    python bench/loadgen.py SPEC.json  > RESULT.json

SPEC names the target (host, port, CA file, credentials, the server's root pid, how to deliver a
message to it) and the scenario with its number of clients and its bounds. Every loop is bounded
in operations and in time. The result holds, per command label, the count, p50/p95/p99 and mean
latency in milliseconds, the throughput, the errors, the server process tree's RSS (sampled) and
CPU time, and this process's own CPU time (to show the client was not the bottleneck).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imapc import Conn, client_context

FETCH_ITEMS = "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)"
SEARCHES = [
    ("FROM", 'UID SEARCH FROM "ada@analytical.example"'),
    ("SUBJECT", 'UID SEARCH SUBJECT "invoice"'),
    ("SINCE", "UID SEARCH SINCE 1-Jul-2025"),
    ("TEXT", 'UID SEARCH TEXT "quokka"'),
    ("BODY", 'UID SEARCH BODY "zanzibar"'),
    ("BODY-miss", 'UID SEARCH BODY "xylophone"'),
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(pid: int) -> int:
    total = 0
    for proc in tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


def tree_pss(pid: int) -> int:
    """Proportional set size: shared pages are split between the processes sharing them, so a
    many-process server (Dovecot) is not charged N times for its libraries."""
    total = 0
    for proc in tree(pid):
        try:
            with open(f"/proc/{proc.pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def tree_cpu(pid: int) -> float:
    total = 0.0
    for proc in tree(pid):
        try:
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


class Run:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.target = spec["target"]
        self.context = client_context(self.target["cafile"])
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.error_count = 0
        self.info: dict[str, Any] = {}
        self.ops = 0
        self.deadline = time.monotonic() + spec.get("duration", 60)
        self.max_ops = spec.get("max_ops", 10**9)
        self.rss_peak = 0

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < 10:
            self.errors.append(text[:300])

    def more(self) -> bool:
        return self.ops < self.max_ops and time.monotonic() < self.deadline

    async def open(self) -> Conn:
        return await Conn.open(self.target["host"], self.target["port"], self.context)

    async def logged_in(self, user: str | None = None, password: str | None = None) -> Conn:
        conn = await self.open()
        await conn.login(user or self.target["user"], password or self.target["password"])
        return conn

    async def sample_memory(self) -> None:
        pid = self.target.get("server_pid")
        if not pid:
            return
        while True:
            self.rss_peak = max(self.rss_peak, tree_rss(pid))
            await asyncio.sleep(0.5)

    # -- scenarios -------------------------------------------------------------------------------

    async def login(self, worker: int) -> None:
        fresh: list[list[str]] = self.spec.get("fresh") or []
        while self.more():
            if self.spec.get("mode") == "fresh":
                if not fresh:
                    return
                user, password = fresh.pop()
            else:
                user, password = self.target["user"], self.target["password"]
            self.ops += 1
            started = time.perf_counter()
            try:
                conn = await self.open()
                opened = time.perf_counter()
                reply = await conn.login(user, password)
                self.lat["LOGIN"].append(reply.seconds)
                self.lat["connect+TLS"].append(opened - started)
                await conn.logout()
                self.lat["connect+TLS+LOGIN+LOGOUT"].append(time.perf_counter() - started)
            except Exception as error:
                self.error(f"login: {type(error).__name__}: {error}")

    async def sync(self, worker: int) -> None:
        folder = self.spec.get("folder", "INBOX")
        conn = await self.logged_in()
        try:
            for _ in range(self.spec.get("iterations", 3)):
                if not self.more():
                    break
                self.ops += 1
                started = time.perf_counter()
                select = await conn.command(f"SELECT {folder}", keep=True)
                exists = next(int(r.split()[1]) for r in select.untagged if r.endswith(b"EXISTS\r\n"))
                fetch = await conn.command(f"UID FETCH 1:* {FETCH_ITEMS}")
                total = time.perf_counter() - started
                self.lat["SELECT"].append(select.seconds)
                self.lat["UID FETCH 1:*"].append(fetch.seconds)
                self.lat["SELECT+FETCH"].append(total)
                self.info["exists"] = exists
                self.info["fetch_octets"] = fetch.octets
                if fetch.count < exists:
                    self.error(f"sync: FETCH returned {fetch.count} responses for {exists} messages")
        finally:
            await conn.logout()

    async def select(self, worker: int) -> None:
        conn = await self.logged_in()
        try:
            while self.more():
                self.ops += 1
                reply = await conn.command(f"SELECT {self.spec.get('folder', 'INBOX')}")
                self.lat["SELECT"].append(reply.seconds)
        finally:
            await conn.logout()

    async def read(self, worker: int) -> None:
        rng = random.Random(1000 + worker)
        conn = await self.logged_in()
        try:
            select = await conn.command("SELECT INBOX", keep=True)
            exists = next(int(r.split()[1]) for r in select.untagged if r.endswith(b"EXISTS\r\n"))
            octets = 0
            while self.more():
                self.ops += 1
                uid = rng.randint(1, exists)
                fetch = await conn.command(f"UID FETCH {uid} BODY.PEEK[]")
                self.lat["UID FETCH n BODY.PEEK[]"].append(fetch.seconds)
                octets += fetch.octets
                store = await conn.command(f"UID STORE {uid} +FLAGS (\\Seen)")
                self.lat["UID STORE n +FLAGS \\Seen"].append(store.seconds)
            self.info["octets"] = self.info.get("octets", 0) + octets
        finally:
            await conn.logout()

    async def search(self, worker: int) -> None:
        conn = await self.logged_in()
        hits: dict[str, int] = {}
        try:
            await conn.command(f"SELECT {self.spec.get('folder', 'INBOX')}")
            step = worker
            while self.more():
                label, query = SEARCHES[step % len(SEARCHES)]
                step += 1
                self.ops += 1
                reply = await conn.command(query, keep=True)
                self.lat[label].append(reply.seconds)
                line = next((r for r in reply.untagged if r.startswith(b"* SEARCH")), b"* SEARCH")
                hits[label] = len(line.split()) - 2
            self.info["hits"] = hits
        finally:
            await conn.logout()

    async def resync(self) -> None:
        """Rounds of: every client notes HIGHESTMODSEQ; another client changes 10 flags; every
        client resynchronises with SELECT (CONDSTORE) + UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE m)."""
        folder = self.spec.get("folder", "INBOX")
        clients = self.spec["clients"]
        conns = [await self.logged_in() for _ in range(clients)]
        changer = await self.logged_in()
        select = await changer.command(f"SELECT {folder} (CONDSTORE)", keep=True, check=False)
        if select.status != "OK":
            select = await changer.command(f"SELECT {folder}", keep=True)
        exists = next(int(r.split()[1]) for r in select.untagged if r.endswith(b"EXISTS\r\n"))
        # A fresh choice each run: when two servers share one database (bench/ab.py), a repeated
        # choice would find the flags already set and change nothing.
        rng = random.Random(time.time_ns())
        returned: list[int] = []
        try:
            for round_ in range(self.spec.get("rounds", 5)):
                if not self.more():
                    break
                modseqs = []
                for conn in conns:
                    status = await conn.command(f"STATUS {folder} (HIGHESTMODSEQ)", keep=True)
                    line = next(r for r in status.untagged if b"HIGHESTMODSEQ" in r)
                    modseqs.append(int(line.split(b"HIGHESTMODSEQ ")[1].split(b")")[0]))
                for _ in range(10):
                    uid = rng.randint(1, exists)
                    sign = "+" if round_ % 2 == 0 else "-"
                    await changer.command(f"UID STORE {uid} {sign}FLAGS (\\Flagged)")

                async def one(conn: Conn, modseq: int) -> None:
                    started = time.perf_counter()
                    sel = await conn.command(f"SELECT {folder} (CONDSTORE)", check=False)
                    if sel.status != "OK":
                        self.error(f"SELECT (CONDSTORE): {sel.status} {sel.text[:120]!r}")
                        sel = await conn.command(f"SELECT {folder}")
                    fetch = await conn.command(
                        f"UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {modseq})", check=False
                    )
                    if fetch.status != "OK":
                        self.error(f"FETCH CHANGEDSINCE: {fetch.status} {fetch.text[:120]!r}")
                    self.lat["SELECT (CONDSTORE)"].append(sel.seconds)
                    self.lat["UID FETCH CHANGEDSINCE"].append(fetch.seconds)
                    self.lat["resync"].append(time.perf_counter() - started)
                    returned.append(fetch.count)

                self.ops += clients
                await asyncio.gather(*(one(c, m) for c, m in zip(conns, modseqs, strict=True)))
        finally:
            for conn in [*conns, changer]:
                await conn.logout()
        self.info["exists"] = exists
        self.info["fetch_lines_per_resync"] = round(sum(returned) / max(1, len(returned)), 1)

    async def idle(self) -> None:
        """N idlers in the selected INBOX; server memory before and after; then push delays."""
        pid = self.target.get("server_pid")
        clients = self.spec["clients"]
        await asyncio.sleep(1)
        before_rss, before_pss = tree_rss(pid), tree_pss(pid)
        conns: list[Conn] = []
        gate = asyncio.Semaphore(self.spec.get("ramp", 32))
        folder = self.spec.get("folder", "INBOX")
        user, password = self.spec.get("idle_user") or (self.target["user"], self.target["password"])

        async def setup() -> None:
            async with gate:
                if time.monotonic() > self.deadline:
                    return
                try:
                    conn = await self.logged_in(user, password)
                    await conn.command(f"SELECT {folder}")
                    await conn.idle_start()
                    conns.append(conn)
                except Exception as error:
                    self.error(f"idle setup: {type(error).__name__}: {error}")

        started = time.monotonic()
        await asyncio.gather(*(setup() for _ in range(clients)))
        self.info["setup_seconds"] = round(time.monotonic() - started, 1)
        self.info["idlers"] = len(conns)
        await asyncio.sleep(3)
        after_rss, after_pss = tree_rss(pid), tree_pss(pid)
        held = max(1, len(conns))
        self.info["server_rss_before"] = before_rss
        self.info["server_rss_after"] = after_rss
        self.info["server_pss_before"] = before_pss
        self.info["server_pss_after"] = after_pss
        self.info["rss_per_idle_conn"] = round((after_rss - before_rss) / held)
        self.info["pss_per_idle_conn"] = round((after_pss - before_pss) / held)
        self.info["server_processes"] = len(tree(pid))

        events = self.spec.get("events", 0)
        if events and conns:
            await self._pushes(conns, events)
        for conn in conns:
            conn.close()

    async def _pushes(self, conns: list[Conn], events: int) -> None:
        arrivals: dict[int, float] = {}
        current = {"kind": b"", "event": -1}
        waiter: asyncio.Future[None] | None = None

        async def listen(index: int, conn: Conn) -> None:
            nonlocal waiter
            try:
                while True:
                    response, _ = await conn.read_response()
                    if current["kind"] and current["kind"] in response and index not in arrivals:
                        arrivals[index] = time.monotonic()
                        if len(arrivals) == len(conns) and waiter is not None and not waiter.done():
                            waiter.set_result(None)
            except Exception:
                return

        listeners = [asyncio.create_task(listen(i, c)) for i, c in enumerate(conns)]
        changer = await self.logged_in()
        await changer.command("SELECT INBOX")
        await changer.command("UID STORE 1 -FLAGS.SILENT (\\Flagged)")  # so the first "+" is a change
        await asyncio.sleep(1.5)  # let that change reach (and be read by) every idler first
        deliver = Deliverer(self.target)
        try:
            for event in range(events):
                kind = "delivery" if event % 2 == 0 else "flag change"
                arrivals.clear()
                current["kind"] = b"EXISTS" if kind == "delivery" else b"FETCH"
                waiter = asyncio.get_running_loop().create_future()
                if kind == "delivery":
                    t0 = await deliver.deliver(event)
                else:
                    t0 = time.monotonic()
                    sign = "+" if event % 4 == 1 else "-"
                    await changer.command(f"UID STORE 1 {sign}FLAGS (\\Flagged)")
                try:
                    await asyncio.wait_for(waiter, self.spec.get("push_timeout", 15))
                except TimeoutError:
                    self.error(
                        f"{kind} {event}: {len(conns) - len(arrivals)} of {len(conns)} idlers heard nothing"
                    )
                current["kind"] = b""
                for when in arrivals.values():
                    self.lat[f"push after {kind}"].append(when - t0)
                    self.lat["push (both)"].append(when - t0)
                await asyncio.sleep(0.5)
        finally:
            deliver.close()
            await changer.logout()
            for task in listeners:
                task.cancel()


class Deliverer:
    """Delivers one new message to the idlers' INBOX and returns the monotonic time it started.

    This server: a warm Django process (bench/ourside.py deliver-loop) calling ingest.deliver, as
    an LMTP/pipe front end would. Dovecot: a Maildir delivery (write to tmp/, rename into new/), as
    an MTA's Maildir transport does; Dovecot learns of it by inotify."""

    def __init__(self, target: dict[str, Any]) -> None:
        self.target = target
        self.proc: subprocess.Popen[str] | None = None
        if target["deliver"]["kind"] == "django":
            self.proc = subprocess.Popen(
                target["deliver"]["argv"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, **target["deliver"].get("env", {})},
                # Run from the code under test: an import path that includes the working directory
                # must find the snapshot, not the working tree.
                cwd=target["deliver"].get("env", {}).get("BENCH_SRC") or None,
            )
            ready = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not ready.startswith("ready"):
                raise RuntimeError(f"deliver helper did not start: {ready!r}")

    def message(self, n: int) -> bytes:
        return (
            f"From: Pusher <push@bench.example>\r\nTo: {self.target['address']}\r\n"
            f"Subject: push {n} {time.time()}\r\nDate: Mon, 1 Sep 2026 10:00:00 +0000\r\n"
            f"Message-ID: <push-{n}-{time.time_ns()}@bench.example>\r\n\r\nNew mail {n}.\r\n"
        ).encode()

    async def deliver(self, n: int) -> float:
        if self.proc is not None:
            self.proc.stdin.write(f"deliver {n}\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)  # type: ignore[union-attr]
            return float(line.split()[1])
        maildir = Path(self.target["deliver"]["maildir"])
        t0 = time.monotonic()
        raw = self.message(n)
        name = f"{int(time.time())}.M{time.time_ns() % 10**9}P{os.getpid()}.bench,S={len(raw)}"
        tmp = maildir / "tmp" / name
        with open(tmp, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, maildir / "new" / name)
        return t0

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(10)


def summarise(values: list[float], wall: float) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "mean_ms": round(sum(values) / len(values) * 1000, 2) if values else 0.0,
        "max_ms": round(max(values) * 1000, 2) if values else 0.0,
        "per_s": round(len(values) / wall, 2) if wall > 0 else 0.0,
    }


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    run = Run(spec)
    pid = spec["target"].get("server_pid")
    cpu_before = tree_cpu(pid) if pid else 0.0
    sampler = asyncio.create_task(run.sample_memory())
    rss_start = tree_rss(pid) if pid else 0
    started = time.monotonic()
    scenario = spec["scenario"]
    try:
        if scenario in ("resync", "idle"):
            await getattr(run, scenario)()
        else:
            method = getattr(run, scenario)

            async def guarded(worker: int) -> None:
                try:
                    await method(worker)
                except Exception as error:
                    run.error(f"{scenario} worker {worker}: {type(error).__name__}: {error}")

            await asyncio.gather(*(guarded(i) for i in range(spec["clients"])))
    except Exception as error:
        run.error(f"{scenario}: {type(error).__name__}: {error}")
    wall = time.monotonic() - started
    sampler.cancel()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "scenario": scenario,
        "target": spec["target"]["name"],
        "clients": spec["clients"],
        "wall_s": round(wall, 3),
        "ops": run.ops,
        "ops_per_s": round(run.ops / wall, 2) if wall else 0,
        "latency": {label: summarise(values, wall) for label, values in run.lat.items()},
        "errors": run.error_count,
        "error_samples": run.errors,
        "info": run.info,
        "server_rss_start": rss_start,
        "server_rss_peak": max(run.rss_peak, tree_rss(pid) if pid else 0),
        "server_cpu_s": round(tree_cpu(pid) - cpu_before, 2) if pid else None,
        "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(main_async(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
