"""`manage.py imapd [--host] [--port] [--cert] [--key]`: run the IMAPS server.

SIGHUP reloads the certificate and key for new connections; SIGTERM and SIGINT stop accepting,
say `* BYE Server restarting, please reconnect` to every session, let running commands finish,
and exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from imapd import tls
from imapd.dbpool import Pools
from imapd.server import ImapServer

log = logging.getLogger("imapd")


class Command(BaseCommand):
    help = "Run the IMAPS server (implicit TLS only)."

    def add_arguments(self, parser: CommandParser) -> None:
        config = settings.MAILKITE
        parser.add_argument("--host", default=config.imap_bind_host, help="address to bind (IMAP_BIND_HOST)")
        parser.add_argument("--port", type=int, default=config.imap_bind_port, help="port (IMAP_BIND_PORT)")
        parser.add_argument(
            "--cert", type=Path, default=config.tls_cert, help="PEM certificate chain (TLS_CERT)"
        )
        parser.add_argument("--key", type=Path, default=config.tls_key, help="PEM private key (TLS_KEY)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            context = tls.server_context(options["cert"], options["key"])
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(str(error)) from None
        try:
            asyncio.run(self._serve(context, options))
        except KeyboardInterrupt:
            pass

    async def _serve(self, context: Any, options: dict[str, Any]) -> None:
        config = settings.MAILKITE
        pools = Pools(
            db_threads=config.db_pool_size, login_threads=config.login_workers, login_queue=config.login_queue
        )
        server = ImapServer(context=context, pools=pools, redis_url=config.redis_url)
        try:
            bound = await server.start(options["host"], options["port"])
        except OSError as error:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {error.strerror}"
            ) from None
        for host, port in bound:
            self.stdout.write(f"imapd: listening on {host}:{port} (implicit TLS)")
        self.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._reload(server, options))
        await stop.wait()
        self.stdout.write("imapd: shutting down")
        await server.close()
        pools.shutdown()

    def _reload(self, server: ImapServer, options: dict[str, Any]) -> None:
        try:
            server.reload_tls(tls.server_context(options["cert"], options["key"]))
            log.info("TLS certificate reloaded")
        except (FileNotFoundError, ValueError) as error:
            log.error("TLS reload failed, keeping the old certificate: %s", error)
