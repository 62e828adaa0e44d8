"""A real imapd (tests.conftest.RunningServer) with a login pool and limits sized by the test."""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

from imapd import tls
from imapd.dbpool import Pools
from imapd.server import ImapServer, ServerOptions
from tests.adversarial.login_helpers import SourceIMAP
from tests.conftest import Certs, RunningServer


class SizedServer(RunningServer):
    """RunningServer with the login pool's threads, queue and per-source share chosen."""

    def __init__(self, certs: Certs, options: ServerOptions, **pool: int) -> None:
        self.certs = certs
        self.loop = asyncio.new_event_loop()
        self.pools = Pools(
            db_threads=pool.pop("db_threads", 4),
            login_threads=pool.pop("login_threads", 2),
            login_queue=pool.pop("login_queue", 64),
            **pool,
        )
        self.server = ImapServer(
            context=tls.server_context(certs.cert, certs.key), pools=self.pools, options=options
        )
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.host, self.port = self.call(self.server.start("127.0.0.1", 0))[0]

    def client(self, source: str, **kwargs: Any) -> SourceIMAP:
        return SourceIMAP(self.host, self.port, source=source, ssl_context=self.context(), **kwargs)

    def context(self) -> ssl.SSLContext:
        return self.certs.client_context()
