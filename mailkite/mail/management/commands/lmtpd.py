"""`manage.py lmtpd [--host H] [--port P] [--reuse-port]`: take mail from an MTA over LMTP (RFC 2033).

The long-lived counterpart of `manage.py deliver`: same recipient rules and the same ingest, but
one process for all mail, so a message costs a few milliseconds instead of a Python start-up.
Plain TCP, no authentication: bind it to an address only the MTA can reach (the default is
loopback). SIGTERM and SIGINT stop accepting, let messages already past DATA be written and
answered, and exit. One process uses about one core: with `--reuse-port`, several share the port.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imapd.dbpool import Pools
from mailkite.lmtp.server import LmtpServer, Options


class Command(BaseCommand):
    help = "Run the LMTP delivery server an MTA hands mail to."
    # As for `deliver`: a broken web view must not stop mail delivery.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        config = settings.MAILKITE
        parser.add_argument("--host", default=config.lmtp_bind_host, help="address to bind (LMTP_BIND_HOST)")
        parser.add_argument(
            "--port", default=str(config.lmtp_bind_port), help="port to bind (LMTP_BIND_PORT)"
        )
        parser.add_argument(
            "--reuse-port",
            action="store_true",
            help="let several lmtpd processes started with this flag share the port (one per core)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = _port(options["port"])
        try:
            asyncio.run(self._serve(options["host"], port, options["reuse_port"]))
        except KeyboardInterrupt:
            pass

    async def _serve(self, host: str, port: int, reuse_port: bool) -> None:
        config = settings.MAILKITE
        pools = Pools(db_threads=config.db_pool_size, login_threads=1, login_queue=1)
        server = LmtpServer(pools=pools, options=Options(max_message_bytes=config.lmtp_max_message_bytes))
        try:
            bound = await server.start(host, port, reuse_port=reuse_port)
        except OSError as error:
            # asyncio words it "error while attempting to bind on address ..."; the errno says it plainly.
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise CommandError(f"Cannot listen on {host}:{port}: {reason}") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        for address, bound_port in bound:
            self.stdout.write(f"lmtpd: listening on {address}:{bound_port} (LMTP)")
        self.stdout.flush()
        await stop.wait()
        self.stdout.write("lmtpd: shutting down")
        self.stdout.flush()
        await server.close()
        pools.shutdown()


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise CommandError(f"--port must be a whole number, not {raw!r}.") from None
    if not 0 <= port <= 65535:  # 0: any free port (tests)
        raise CommandError("--port must be between 1 and 65535.")
    return port
