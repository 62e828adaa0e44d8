"""Starting, stopping and measuring the two servers (and the private Redis) under bench/work/.

Nothing here touches the system's own Dovecot configuration or service: the private instance has
its own configuration file, base_dir, state_dir, instance name, logs, passwd-file and Maildirs
under bench/work/dovecot, listens on 127.0.0.1 only, and is started in the foreground as a child
of the suite (`dovecot -F -c ...`), so stopping the suite stops it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
VENV_PY = WORK / "venv" / "bin" / "python"
MAIL_UID = 65534  # nobody: Dovecot refuses to run mail processes as root


def wait_port(port: int, timeout: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def tls_files() -> dict[str, str]:
    """A bench CA and a CA:FALSE server certificate for localhost/127.0.0.1 (trustme), shared by
    both servers so the TLS work is identical."""
    directory = WORK / "tls"
    paths = {"ca": directory / "ca.pem", "cert": directory / "server.pem", "key": directory / "server.key"}
    if not all(p.exists() for p in paths.values()):
        import trustme

        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="MailKite bench CA")
        leaf = ca.issue_cert("localhost", "127.0.0.1", organization_name="MailKite bench server")
        ca.cert_pem.write_to_path(str(paths["ca"]))
        leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
        leaf.private_key_pem.write_to_path(str(paths["key"]))
        os.chmod(paths["key"], 0o644)  # Dovecot reads it as root; the bench directory is private
    return {k: str(v) for k, v in paths.items()}


class Process:
    proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class Redis(Process):
    def __init__(self, port: int = 16379) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        directory = WORK / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--logfile",
                str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, 20, self.proc)
        time.sleep(0.3)
        if self.proc.poll() is not None:  # something else already listens there
            raise RuntimeError(f"redis-server could not listen on 127.0.0.1:{self.port}: is the port taken?")


class Ours(Process):
    """`manage.py imapd` with the production-like bench environment."""

    def __init__(self, env: dict[str, str], port: int, src: Path) -> None:
        self.env = env
        self.port = port
        self.src = src
        self.log = WORK / "imapd.log"

    def start(self, extra_env: dict[str, str] | None = None, wrapper: list[str] | None = None) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            [*(wrapper or []), str(VENV_PY), str(self.src / "manage.py"), "imapd", "--port", str(self.port)],
            env={**os.environ, **self.env, **(extra_env or {})},
            stdout=out,
            stderr=out,
            cwd=self.src,
        )
        wait_port(self.port, 60, self.proc)

    def restart(self, **kwargs: Any) -> None:
        self.stop()
        self.start(**kwargs)


class Dovecot(Process):
    def __init__(self, port: int, tls: dict[str, str]) -> None:
        self.port = port
        self.tls = tls
        self.dir = WORK / "dovecot"
        self.conf = self.dir / "dovecot.conf"
        self.home = self.dir / "home"

    @staticmethod
    def available() -> str | None:
        """None when usable, else why not."""
        if not shutil.which("dovecot") or not Path("/usr/lib/dovecot/imap").exists():
            return "dovecot-imapd is not installed (bench/run installs it with apt-get as root)"
        if os.geteuid() != 0:
            return "the private Dovecot needs root to start (it drops to its own users itself)"
        return None

    @staticmethod
    def version() -> str:
        return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()

    def prepare(self, corpus: Path, users: list[tuple[str, str, str]], idle_messages: int = 20) -> None:
        """Config, passwd-file (the same argon2id parameters as this server) and Maildirs: a
        hard-linked copy of the corpus for `reader`, a small one for `idle`, an empty one for `ingest`."""
        self.stop()
        if self.dir.exists():
            shutil.rmtree(self.dir)
        for sub in ("run", "state", "home"):
            (self.dir / sub).mkdir(parents=True)
        reader = self.home / "reader" / "Maildir"
        reader.parent.mkdir()
        subprocess.run(["cp", "-al", str(corpus / "Maildir"), str(reader)], check=True)
        idle = self.home / "idle" / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (idle / sub).mkdir(parents=True)
        for path in sorted((corpus / "Maildir" / "cur").iterdir())[:idle_messages]:
            shutil.copy2(path, idle / "cur" / path.name)
        ingest = self.home / "ingest" / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (ingest / sub).mkdir(parents=True)
        subprocess.run(["chown", "-R", f"{MAIL_UID}:{MAIL_UID}", str(self.home)], check=True)
        lines = []
        for user, hashed, home in users:
            lines.append(f"{user}:{{ARGON2ID}}{hashed}:{MAIL_UID}:{MAIL_UID}::{self.home / home}::")
        (self.dir / "passwd").write_text("\n".join(lines) + "\n")
        self.conf.write_text(self._config())

    def _config(self) -> str:
        d = self.dir
        return f"""# Private benchmark instance written by bench/servers.py; not the system's Dovecot.
instance_name = mailkite-bench
base_dir = {d}/run
state_dir = {d}/state
protocols = imap
listen = 127.0.0.1
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot-info.log
ssl = required
ssl_cert = <{self.tls["cert"]}
ssl_key = <{self.tls["key"]}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
# Same password hashes as this server (argon2id, t=2, m=19 MiB, p=1), and Dovecot's auth cache on,
# so "cached" logins are cached on both sides.
auth_cache_size = 10M
auth_cache_ttl = 1 hour
auth_cache_negative_ttl = 0
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
mail_location = maildir:~/Maildir
first_valid_uid = {MAIL_UID}
last_valid_uid = {MAIL_UID}
# Many clients of one user from one address (the default caps that at 10 per user+IP).
protocol imap {{
  mail_max_userip_connections = 20000
}}
# Dovecot's documented high-performance login mode (one login process serves many connections)
# instead of one imap-login process per connection: fewer processes and less memory per
# connection, the configuration a site with thousands of connections would use.
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 2
  client_limit = 12000
  process_limit = 8
}}
service imap {{
  process_limit = 12000
}}
service anvil {{
  client_limit = 30000
}}
service auth {{
  client_limit = 30000
}}
default_client_limit = 30000
default_vsz_limit = 1G
"""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.conf)],
            stdout=open(self.dir / "stdout.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port, 30, self.proc)

    def restart(self, *, drop_indexes: bool = False) -> None:
        self.stop()
        if drop_indexes:
            for path in self.home.rglob("dovecot.index*"):
                path.unlink()
            for path in self.home.rglob("dovecot.list.index*"):
                path.unlink()
        self.start()

    def maildir(self, user: str) -> Path:
        return self.home / user / "Maildir"
