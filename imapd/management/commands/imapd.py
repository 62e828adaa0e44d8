"""`manage.py imapd [--host] [--port] [--cert] [--key] [--workers N]`: run the IMAPS server.

SIGHUP reloads the certificate and key for new connections; SIGTERM and SIGINT stop accepting,
say `* BYE Server restarting, please reconnect` to every session, let running commands finish
for a few seconds (ServerOptions.shutdown_grace), cancel the rest with their database statements,
and exit.

With one worker (IMAP_WORKERS=1, the default) this process serves. With N > 1 it is a supervisor
that serves nothing itself: it checks that the port is free, holds a bound but non-listening
socket on it (so the port stays ours while a worker restarts, and port 0 becomes one real port),
then starts N fresh interpreters (`manage.py imapd --worker-of-parent K`, never a fork of a
process that has opened database connections). Each worker listens on the same address with
SO_REUSEPORT, so the kernel spreads connections among them; live events reach every worker
through the event hub (Redis or the change counters), as they reach separate hosts. The
supervisor forwards SIGTERM/SIGINT and SIGHUP, restarts a worker that dies (with a back-off),
and a worker whose supervisor disappears (its stdin pipe closes) shuts down by itself.

With --proxy-port (IMAP_PROXY_BIND_PORT) it also listens for a load balancer's connections, which
start with a PROXY protocol header believed from PROXY_TRUSTED_NETWORKS (imapd.proxylisten).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imapd import tls
from imapd.dbpool import Pools
from imapd.proxylisten import TrustedNetworks
from imapd.server import ImapServer, ServerOptions
from mailkite.config import check_certificate

log = logging.getLogger("imapd")

READY_TIMEOUT = 60.0  # a worker's Django start-up, TLS context and bind; seconds
RESTART_DELAY = 1.0  # the first back-off after a worker dies, doubling up to RESTART_DELAY_MAX
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 60.0  # a worker that ran this long before dying restarts after RESTART_DELAY again
# A worker lets running commands finish for ServerOptions.shutdown_grace; then it is killed.
STOP_TIMEOUT = ServerOptions.shutdown_grace + 20.0


class Command(BaseCommand):
    help = "Run the IMAPS server (implicit TLS only)."

    def add_arguments(self, parser: CommandParser) -> None:
        config = settings.MAILKITE
        parser.add_argument("--host", default=config.imap_bind_host, help="address to bind (IMAP_BIND_HOST)")
        parser.add_argument(
            "--port", type=int, default=config.imap_bind_port, help="port (IMAP_BIND_PORT; 0: any free)"
        )
        parser.add_argument(
            "--cert", type=Path, default=config.tls_cert, help="PEM certificate chain (TLS_CERT)"
        )
        parser.add_argument("--key", type=Path, default=config.tls_key, help="PEM private key (TLS_KEY)")
        parser.add_argument(
            "--workers",
            type=int,
            default=config.imap_workers,
            help="processes sharing the port (IMAP_WORKERS; production: the number of cores)",
        )
        parser.add_argument(
            "--proxy-host",
            default=config.imap_proxy_bind_host,
            help="address of the PROXY protocol listener (IMAP_PROXY_BIND_HOST)",
        )
        parser.add_argument(
            "--proxy-port",
            type=int,
            default=config.imap_proxy_bind_port,
            help="port of the PROXY protocol listener, for a load balancer (IMAP_PROXY_BIND_PORT; "
            "off by default)",
        )
        # Internal: how the supervisor starts worker K. Not for people, so not in --help.
        parser.add_argument("--worker-of-parent", type=int, default=None, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        # 0 is for tests and tools that read the port from the "listening on" line; anything else
        # out of range would otherwise wrap around (99999 listens on 34463).
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 1 and 65535 (or 0 for any free port).")
        try:  # the certificate actually served: --cert beats TLS_CERT
            check_certificate(settings.MAILKITE, options["cert"])
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        if options["proxy_port"] is not None:
            if not 0 <= options["proxy_port"] <= 65535:
                raise CommandError("--proxy-port must be between 1 and 65535.")
            if not settings.MAILKITE.proxy_trusted_networks:
                raise CommandError("--proxy-port needs PROXY_TRUSTED_NETWORKS (the balancers' addresses).")
        try:
            context = tls.server_context(options["cert"], options["key"])
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(str(error)) from None
        try:
            if options["worker_of_parent"] is None and options["workers"] > 1:
                asyncio.run(Supervisor(self, options).run())
            else:
                asyncio.run(self._serve(context, options))
        except KeyboardInterrupt:
            pass

    async def _serve(self, context: Any, options: dict[str, Any]) -> None:
        config = settings.MAILKITE
        worker = options["worker_of_parent"]
        pools = Pools(
            db_threads=config.db_pool_size,
            login_threads=config.login_workers,
            login_queue=config.login_queue,
            login_share=config.login_share,
            budget=config.imap_command_budget_ms / 1000,
            work_mem_kib=config.imap_db_work_mem_kib,
        )
        server = ImapServer(
            context=context,
            pools=pools,
            options=server_options(config),
            redis_url=config.redis_url,
            conn_prefix="" if worker is None else f"w{worker}.",
        )
        try:
            bound = await server.start(options["host"], options["port"], reuse_port=worker is not None)
        except OSError as error:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {error.strerror}"
            ) from None
        proxied = []
        if options["proxy_port"] is not None:
            trusted = TrustedNetworks(config.proxy_trusted_networks)
            try:
                proxied = server.listen(
                    options["proxy_host"], options["proxy_port"], reuse_port=worker is not None, proxy=trusted
                )
            except OSError as error:
                await server.close()
                raise CommandError(
                    f"Cannot listen on {options['proxy_host']}:{options['proxy_port']}: {error.strerror}"
                ) from None
        # Handlers before the "listening" line: whoever waits for that line may signal at once, and
        # SIGHUP's default action would end the process instead of reloading the certificate.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._reload(server, options))
        for host, port in bound:
            if worker is None:
                self.stdout.write(f"imapd: listening on {host}:{port} (implicit TLS)")
            else:  # the line the supervisor waits for
                self.stdout.write(f"imapd: worker {worker} listening on {host}:{port} (pid {os.getpid()})")
        if worker is None:
            for host, port in proxied:
                self.stdout.write(f"imapd: PROXY protocol listener on {host}:{port}")
        self.stdout.flush()
        orphaned = loop.create_task(_until_stdin_closes(stop)) if worker is not None else None
        await stop.wait()
        if orphaned is not None:
            orphaned.cancel()
        if worker is None:
            self.stdout.write("imapd: shutting down")
        await server.close()
        pools.shutdown()

    def _reload(self, server: ImapServer, options: dict[str, Any]) -> None:
        try:
            server.reload_tls(tls.server_context(options["cert"], options["key"]))
            log.info("TLS certificate reloaded")
        except (FileNotFoundError, ValueError) as error:
            log.error("TLS reload failed, keeping the old certificate: %s", error)


def server_options(config: Any) -> ServerOptions:
    """The limits of issue 10 from the settings (mailkite.config); the rest keep their defaults."""
    return ServerOptions(
        login_timeout=float(config.login_timeout),
        failure_delay=float(config.login_failure_delay),
        max_failure_delay=float(config.login_failure_delay_max),
        max_login_failures=config.login_failures_per_connection,
        max_connections=config.imap_max_connections,
        max_unauthenticated_per_address=config.imap_max_unauthenticated_per_address,
        max_connections_per_mailbox_address=config.imap_max_userip_connections,
        write_timeout=float(config.imap_write_timeout),
    )


async def _until_stdin_closes(stop: asyncio.Event) -> None:
    """A worker's stdin is a pipe from its supervisor: end of file means the supervisor is gone
    (even killed with SIGKILL), and a worker left alone would hold the port for ever."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):  # not a pipe (started by hand): nothing to watch
        return
    while await reader.read(4096):
        pass
    log.warning("the imapd supervisor is gone; this worker shuts down")
    stop.set()


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, non-listening SO_REUSEPORT socket on the address the workers will share.

    First a plain bind: it fails if anything already listens there, including the workers of
    another imapd, which a SO_REUSEPORT bind would silently join. Only listening sockets receive
    connections, so the reservation itself never takes one."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # as the workers' listeners (ImapServer.start)
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(address)
        probe.listen(1)
        address = probe.getsockname()
    reservation = socket.socket(family, kind, proto)
    try:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            reservation.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        reservation.bind(address)
    except OSError:
        reservation.close()
        raise
    return reservation


class Supervisor:
    """The parent of `--workers N`: starts, watches, signals and restarts the workers."""

    def __init__(self, command: Command, options: dict[str, Any]) -> None:
        self.command = command
        self.options = options
        self.count: int = options["workers"]
        self.workers: dict[int, asyncio.subprocess.Process] = {}
        self.stopping = asyncio.Event()
        self._drains: set[asyncio.Task[None]] = set()  # referenced, or the loop may drop them

    async def run(self) -> None:
        host = self.options["host"]
        try:
            reservation = reserve_port(host, self.options["port"])
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{self.options['port']}: {error.strerror}") from None
        proxy_reservation: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if self.options["proxy_port"] is not None:
            proxy_host = self.options["proxy_host"]
            try:
                proxy_socket = reserve_port(proxy_host, self.options["proxy_port"])
            except OSError as error:
                reservation.close()
                raise CommandError(
                    f"Cannot listen on {proxy_host}:{self.options['proxy_port']}: {error.strerror}"
                ) from None
            self.proxy_port = proxy_socket.getsockname()[1]
            proxy_reservation = proxy_socket
        with reservation, proxy_reservation:
            self.port = reservation.getsockname()[1]
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
            loop.add_signal_handler(signal.SIGINT, self.stopping.set)
            loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
            started = await asyncio.gather(*(self._start(k) for k in range(1, self.count + 1)))
            if not all(started):
                await self._stop_all()
                raise CommandError("imapd: a worker failed to start (its error is above); stopped.")
            self.command.stdout.write(
                f"imapd: listening on {host}:{self.port} (implicit TLS, {self.count} workers)"
            )
            if self.options["proxy_port"] is not None:
                self.command.stdout.write(
                    f"imapd: PROXY protocol listener on {self.options['proxy_host']}:{self.proxy_port}"
                )
            self.command.stdout.flush()
            keepers = [loop.create_task(self._keep(k)) for k in range(1, self.count + 1)]
            await self.stopping.wait()
            self.command.stdout.write("imapd: shutting down")
            self.command.stdout.flush()
            await self._stop_all()
            for task in keepers:
                task.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)

    async def _start(self, worker: int) -> bool:
        """Start worker K and wait for its "listening" line; False if it exits first."""
        argv = [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "imapd",
            *("--host", self.options["host"], "--port", str(self.port)),
            *("--cert", str(self.options["cert"]), "--key", str(self.options["key"])),
            *("--worker-of-parent", str(worker)),
        ]
        if self.options["proxy_port"] is not None:
            argv += ["--proxy-host", self.options["proxy_host"], "--proxy-port", str(self.proxy_port)]
        # stdin: the pipe whose end tells the worker we are gone; stderr (its log) is ours.
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.workers[worker] = process
        assert process.stdout is not None
        line = b""
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
        if b" listening on " not in line:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            log.error("worker %d did not start (exit code %s)", worker, process.returncode)
            return False
        log.info("worker %d started (pid %d)", worker, process.pid)
        drain = asyncio.get_running_loop().create_task(_drain(process.stdout))
        self._drains.add(drain)
        drain.add_done_callback(self._drains.discard)
        return True

    async def _keep(self, worker: int) -> None:
        """Restart worker K whenever it exits while we are not stopping, backing off while it
        keeps dying (a broken certificate, an exhausted machine) instead of spinning."""
        loop = asyncio.get_running_loop()
        delay = RESTART_DELAY
        while True:
            began = loop.time()
            code = await self.workers[worker].wait()
            if self.stopping.is_set():
                return
            if loop.time() - began >= STABLE_AFTER:
                delay = RESTART_DELAY
            log.error(
                "worker %d (pid %d) exited with code %s; starting a new one in %.0f s",
                worker,
                self.workers[worker].pid,
                code,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return
            delay = min(delay * 2, RESTART_DELAY_MAX)
            await self._start(worker)

    def _forward(self, signum: int) -> None:
        for process in self.workers.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    async def _stop_all(self) -> None:
        """SIGTERM every worker (each says BYE and lets commands finish), then wait; kill late ones."""
        self._forward(signal.SIGTERM)
        waits = [process.wait() for process in self.workers.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), STOP_TIMEOUT)
        except TimeoutError:
            log.error("workers did not stop within %.0f s; killing them", STOP_TIMEOUT)
            self._forward(signal.SIGKILL)
            await asyncio.gather(*(process.wait() for process in self.workers.values()))


async def _drain(stream: asyncio.StreamReader) -> None:
    """Read what a worker still writes to stdout, so a full pipe can never block it."""
    while await stream.readline():
        pass
