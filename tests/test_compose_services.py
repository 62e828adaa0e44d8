"""The start of issue 14's production smoke test: the back-end services of docker-compose.yml run
here, each with its own command and environment from the file (container paths moved under a
temporary folder, the test's database and Redis, the test certificate in /tls), as this
unprivileged user: migrate, imapd (IMAPS login, then its own healthcheck), celery worker and beat
(which must be able to write its schedule). The web service is tests/test_compose.py's.
Not yet here: HAProxy in front, Playwright over HTTPS, LMTP through Postfix, a PGP domain."""

from __future__ import annotations

import imaplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import deployfiles
from tests.conftest import Account, Certs, child_environment
from tests.test_compose import _free_port, _mapped, app_services, runtime_env


def service_env(name: str, root: Path, certs: Certs, redis_url: str | None) -> dict[str, str]:
    env = _mapped(runtime_env(app_services()[name]), root)
    # The certificate compose mounts at /tls is the test's.
    env["TLS_CERT"], env["TLS_KEY"] = str(certs.cert), str(certs.key)
    (root / "data" / "blobs").mkdir(parents=True, exist_ok=True)  # what the image provides
    return child_environment(redis_url=redis_url, **env)


def command(name: str, root: Path) -> list[str]:
    """The service's exec-form command, run with this interpreter, container paths moved."""
    argv = list(app_services()[name]["command"])
    argv = [str(root / a.lstrip("/")) if a.startswith(("/data", "/app")) else a for a in argv]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return [sys.executable, "-m", *argv]


class Service:
    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=deployfiles.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared:\n{self.log.read_text()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Service]]:
    services: list[Service] = []
    yield services
    for service in services:
        service.stop()


def test_migrate_runs_with_its_compose_environment(transactional_db, tmp_path, certs):
    result = subprocess.run(
        command("migrate", tmp_path),
        cwd=deployfiles.ROOT,
        env=service_env("migrate", tmp_path, certs, None),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imapd_serves_imaps_and_passes_its_healthcheck(account: Account, tmp_path, certs, started):
    argv = command("imapd", tmp_path)
    published = deployfiles.option(argv, "--port")
    port = _free_port()  # 993 needs root; the service's port is mapped to a free one
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    env = service_env("imapd", tmp_path, certs, None)
    imapd = Service(argv, env, tmp_path / "imapd.log")
    started.append(imapd)
    imapd.wait_for(f"listening on 127.0.0.1:{port}")
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=certs.client_context(), timeout=20)
    assert client.login(account.address, account.password)[0] == "OK"
    client.logout()
    probe = app_services()["imapd"]["healthcheck"]["test"]
    assert probe[:2] == ["CMD", "python"] and f", {published})" in probe[-1]  # the port imapd binds
    code = probe[-1].replace(f", {published})", f", {port})")
    result = subprocess.run([sys.executable, *probe[2:-1], code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_celery_worker_and_beat_start_and_beat_writes_its_schedule(
    transactional_db, tmp_path, certs, redis_url, started
):
    worker = Service(
        command("worker", tmp_path),
        service_env("worker", tmp_path, certs, redis_url),
        tmp_path / "worker.log",
    )
    started.append(worker)
    beat_argv = command("beat", tmp_path)
    given = deployfiles.option(beat_argv, "--schedule")
    assert given is not None, "without --schedule beat writes into its working directory, /app (root's)"
    schedule = Path(given)
    assert schedule.is_relative_to(tmp_path), schedule  # a container path, moved here
    beat = Service(beat_argv, service_env("beat", tmp_path, certs, redis_url), tmp_path / "beat.log")
    started.append(beat)
    worker.wait_for(" ready.", timeout=120)
    beat.wait_for("beat: Starting...", timeout=120)
    deadline = time.monotonic() + 30
    while not list(schedule.parent.glob(schedule.name + "*")):
        assert time.monotonic() < deadline, beat.log.read_text()
        assert beat.process.poll() is None, beat.log.read_text()
        time.sleep(0.2)
    assert beat.process.poll() is None and worker.process.poll() is None
