"""docker-compose.yml and the Dockerfile read as Docker would (tests/deployfiles.py), checked for
the problems of issue 14: the port users are told, static files collected where they are served,
beat's schedule and the blobs volume writable by the service user, `gpg` in the image, nothing
private in the build context, and the web service's own healthcheck command passing against its
own command run here, on a host name that is not in ALLOWED_HOSTS."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from mailkite import config
from tests import deployfiles
from tests.conftest import child_environment

# What an operator's .env beside docker-compose.yml holds (the file's header lists it).
DOT_ENV = {
    "SECRET_KEY": "kF3!x9@Lr#2vQ8$wZ5^nB7&mT1*pY4(hJ6)dS0-gA3_cV9+eR2=uI8~oP5",
    "ALLOWED_HOSTS": "mail.example.com",
    "IMAP_PUBLIC_HOST": "imap.example.com",
}


def app_services() -> dict[str, dict]:
    return {name: s for name, s in deployfiles.services(DOT_ENV).items() if "build" in s}


def runtime_env(service: dict) -> dict[str, str]:
    """A container's environment: the image's ENV, then env_file (.env), then `environment:`."""
    return {**deployfiles.dockerfile().env, **DOT_ENV, **deployfiles.environment(service)}


def under(path: str, folder: str) -> bool:
    return PurePosixPath(path).is_relative_to(PurePosixPath(folder))


def volume_targets(service: dict) -> list[str]:
    return [str(v).split(":")[1] for v in service.get("volumes") or []]


def test_the_public_imap_host_must_be_set():
    with pytest.raises(LookupError, match="IMAP_PUBLIC_HOST"):
        deployfiles.services({k: v for k, v in DOT_ENV.items() if k != "IMAP_PUBLIC_HOST"})


def test_users_are_told_the_imaps_port_that_is_published():
    services = app_services()
    public = {name: config.load(runtime_env(s)).imap_public_port for name, s in services.items()}
    assert len(set(public.values())) == 1, public  # the web app and imapd tell the same port
    port = next(iter(public.values()))
    publishers = [
        (name, inside)
        for name, s in deployfiles.services(DOT_ENV).items()
        for outside, inside in deployfiles.published(s)
        if outside == port
    ]
    assert publishers, f"IMAP_PUBLIC_PORT {port} is not published by any service"
    for name, inside in publishers:
        if name == "imapd":
            imapd = services["imapd"]
            bind = deployfiles.option(imapd["command"], "--port")
            assert int(bind or config.load(runtime_env(imapd)).imap_bind_port) == inside


def test_static_files_are_collected_where_the_web_app_serves_them():
    image = deployfiles.dockerfile()
    collects = [env for env, argv in image.runs if "collectstatic" in argv]
    assert len(collects) == 1
    built = str(config.load(collects[0]).static_root)
    for name, service in app_services().items():
        assert str(config.load(runtime_env(service)).static_root) == built, name
        # A volume mounted over it would hide what the build put there.
        assert not any(under(built, target) for target in volume_targets(service) + image.volumes), name


def test_what_the_services_write_belongs_to_the_service_user():
    image = deployfiles.dockerfile()
    services = app_services()
    owned = [folder for folder, owner in image.chowned.items() if owner == image.user]
    schedule = deployfiles.option(services["beat"]["command"], "--schedule")
    assert schedule is not None, "beat would write celerybeat-schedule into the working directory"
    assert any(under(schedule, folder) for folder in owned), (schedule, image.chowned)
    for name, service in services.items():
        blobs = str(config.load(runtime_env(service)).blob_dir)
        # A named volume starts with the owner of its mount point in the image.
        assert any(under(blobs, folder) for folder in owned), (name, blobs)
        assert blobs in image.volumes or blobs in volume_targets(service), name


def test_the_image_has_gpg_for_pgp_domains():
    image = deployfiles.dockerfile()
    assert any(argv[:2] == ["apt-get", "install"] and "gnupg" in argv for _, argv in image.runs)


def test_the_build_context_leaves_out_what_git_ignores():
    ignored = {
        line.strip().rstrip("/") for line in (deployfiles.ROOT / ".dockerignore").read_text().splitlines()
    }
    for line in (deployfiles.ROOT / ".gitignore").read_text().splitlines():
        entry = line.strip().rstrip("/")
        if entry and not entry.startswith("#"):
            assert entry in ignored or f"**/{entry}" in ignored, entry
    assert ".git" in ignored


# -- the web service, run here -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mapped(env: dict[str, str], root: Path) -> dict[str, str]:
    """Container paths (/data, /app, /tls) moved under `root`; the database and Redis are the
    test's own (child_environment)."""
    moved = {}
    for key, value in env.items():
        if key in ("DATABASE_URL", "REDIS_URL"):
            continue
        if value.startswith(("/data", "/app", "/tls")):
            value = str(root / value.lstrip("/"))
        moved[key] = value
    return moved


@pytest.fixture
def web_service(transactional_db, tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """The web service's command and environment, behind a TLS proxy (X-Forwarded-Proto trusted),
    after the image's collectstatic. Yields its base URL, its log file and its healthcheck."""
    image = deployfiles.dockerfile()
    service = app_services()["web"]
    build_env, collect = next((env, argv) for env, argv in image.runs if "collectstatic" in argv)
    subprocess.run(
        [sys.executable, *collect[1:]],
        env=child_environment(**_mapped(build_env, tmp_path)),
        cwd=deployfiles.ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    command = service["command"]
    port = _free_port()
    assert command[0] == "daphne"
    argv = [sys.executable, "-m", *command]
    argv[argv.index("-p") + 1] = str(port)
    argv[argv.index("-b") + 1] = "127.0.0.1"
    healthcheck = service["healthcheck"]["test"]
    assert healthcheck[:2] == ["CMD", "python"]
    probe = [sys.executable, *healthcheck[2:]]
    assert f":{deployfiles.option(command, '-p')}/healthz" in probe[-1]  # probes the port daphne binds
    probe[-1] = probe[-1].replace(f":{deployfiles.option(command, '-p')}/", f":{port}/")
    # Behind the TLS proxy, as compose runs it (the proxy's X-Forwarded-Proto is believed).
    env = child_environment(**{**_mapped(runtime_env(service), tmp_path), "TRUST_X_FORWARDED_PROTO": "true"})
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=deployfiles.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, log_path)
        yield f"http://127.0.0.1:{port}", log_path, probe
    finally:
        process.terminate()
        process.wait(10)


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


def test_the_web_service_passes_its_healthcheck_and_serves_static_files(web_service):
    base, log, probe = web_service
    result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr  # Host: 127.0.0.1, not in ALLOWED_HOSTS
    login = urllib.request.Request(
        f"{base}/accounts/login/", headers={"Host": "mail.example.com", "X-Forwarded-Proto": "https"}
    )
    page = urllib.request.urlopen(login, timeout=30).read().decode()
    stylesheet = page.split('rel="stylesheet" href="')[1].split('"')[0]
    static = urllib.request.Request(
        f"{base}{stylesheet}", headers={"Host": "mail.example.com", "X-Forwarded-Proto": "https"}
    )
    assert urllib.request.urlopen(static, timeout=30).status == 200
    assert " ERROR " not in log.read_text()


def test_the_healthcheck_fails_while_the_database_is_down(tmp_path: Path):
    """503 (the probe exits non-zero) and a warning, not a 500 with an ERROR and its traceback."""
    service = app_services()["web"]
    port = _free_port()
    env = child_environment(
        **_mapped(runtime_env(service), tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path}/no-such-folder/db.sqlite3",  # cannot be opened
    )
    log_path = tmp_path / "web.log"
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mailkite.asgi:application"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=deployfiles.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, log_path)
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30)
        assert failure.value.code == 503
    finally:
        process.terminate()
        process.wait(10)
    text = log_path.read_text()
    assert "WARNING mailkite.health health check: the database does not answer" in text
    assert " ERROR " not in text and "Traceback" not in text
