"""Two imapd nodes behind a real HAProxy (`send-proxy-v2`), one database, one Redis (issue 14, 3).

Each node is a real `manage.py imapd` process with its PROXY listener trusting 127.0.0.1, where
HAProxy connects from. Clients connect to HAProxy from 127.0.0.2, so the address every node must
see is 127.0.0.2, never HAProxy's 127.0.0.1. HAProxy has the production shape (a round-robin
frontend over both nodes) plus one frontend pinned to each node, so a test can choose the node.

HAProxy comes from apt (scripts/install-test-tools); missing, it skips these tests, or fails
them under CI.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imapd import proxyproto
from passwords import service
from passwords.models import AppPassword
from tests.conftest import Account, Certs, child_environment
from tests.imapd.proxyclient import ProxiedIMAP
from tests.imapd.test_idle import start_idle, stop_idle

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
CLIENT = "127.0.0.2"  # the client's own address; HAProxy reaches the nodes from 127.0.0.1
PUSH_ROUNDS = 30
# The issue asks for 100 ms, measured from sending STORE on node 1 to the FETCH arriving on node 2
# (so node 1's database write is included). Measured on 2 shared cores (the test prints both; run
# with -s): p50 8-15 ms, p95 16-21 ms when quiet; p50 45 ms, p95 80 ms while other test runs loaded
# the machine. The bounds are looser than 100 ms so that a loaded CI machine does not fail a correct
# push path; without Redis (the nodes' 1 s counter poll) the median is ~500 ms and fails.
PUSH_MEDIAN_BOUND = 0.250
PUSH_WORST_BOUND = 2.0


def require_haproxy() -> str:
    path = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if path:
        return path
    reason = "haproxy is not installed: run scripts/install-test-tools"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


HAPROXY_CONFIG = """\
global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend imaps
    bind 127.0.0.1:{balanced}
    default_backend imapd

frontend via_n1
    bind 127.0.0.1:{via_n1}
    default_backend only_n1

frontend via_n2
    bind 127.0.0.1:{via_n2}
    default_backend only_n2

backend imapd
    balance roundrobin
    server n1 127.0.0.1:{n1} send-proxy-v2 check inter 200ms
    server n2 127.0.0.1:{n2} send-proxy-v2 check inter 200ms

backend only_n1
    server n1 127.0.0.1:{n1} send-proxy-v2

backend only_n2
    server n2 127.0.0.1:{n2} send-proxy-v2
"""


@dataclass
class Node:
    process: subprocess.Popen[str]
    proxy_port: int
    log: Path

    def log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)


@dataclass
class Cluster:
    nodes: list[Node]
    ports: dict[str, int]  # frontend name -> HAProxy port
    certs: Certs
    clients: list[ProxiedIMAP] = field(default_factory=list)

    def connect(self, frontend: str = "imaps") -> ProxiedIMAP:
        client = ProxiedIMAP(
            "127.0.0.1", self.ports[frontend], ssl_context=self.certs.client_context(), source=CLIENT
        )
        self.clients.append(client)
        return client

    def login(self, account: Account, frontend: str = "imaps") -> ProxiedIMAP:
        client = self.connect(frontend)
        client.login(account.address, account.password)
        client.select("INBOX")
        return client


def start_node(name: str, tmp_path: Path, certs: Certs, redis_url: str) -> Node:
    log = tmp_path / f"imapd-{name}.log"
    env = child_environment(redis_url=redis_url, LOG_LEVEL="INFO", PROXY_TRUSTED_NETWORKS="127.0.0.1/32")
    argv = [sys.executable, "manage.py", "imapd", "--port", "0", "--proxy-port", "0"]
    argv += ["--cert", str(certs.cert), "--key", str(certs.key)]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True
    )
    assert process.stdout is not None
    lines = [process.stdout.readline(), process.stdout.readline()]
    assert "PROXY protocol listener on 127.0.0.1:" in lines[1], (lines, log.read_text())
    return Node(process, int(lines[1].rsplit(":", 1)[1]), log)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "haproxy exited"
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"haproxy never listened on {port}"
            time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path, certs: Certs, redis_url: str, settings) -> Iterator[Cluster]:
    haproxy = require_haproxy()
    # This test process revokes passwords too: it must publish on the nodes' Redis.
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, redis_url=redis_url)
    nodes: list[Node] = []
    proxy: subprocess.Popen[str] | None = None
    built: Cluster | None = None
    try:
        nodes = [start_node(name, tmp_path, certs, redis_url) for name in ("n1", "n2")]
        ports = {name: free_port() for name in ("imaps", "via_n1", "via_n2")}
        config = tmp_path / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                balanced=ports["imaps"],
                via_n1=ports["via_n1"],
                via_n2=ports["via_n2"],
                n1=nodes[0].proxy_port,
                n2=nodes[1].proxy_port,
            )
        )
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proxy_log = tmp_path / "haproxy.log"
        proxy = subprocess.Popen(
            [haproxy, "-db", "-f", str(config)],
            stdout=proxy_log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        for port in ports.values():
            wait_for_port(port, proxy)
        built = Cluster(nodes, ports, certs)
        yield built
    finally:
        for client in built.clients if built else []:
            try:
                client.shutdown()
            except Exception:
                pass
        if proxy is not None:
            stop(proxy)
        for node in nodes:
            stop(node.process)


def test_last_used_shows_the_client_address_not_haproxys(cluster, account):
    client = cluster.login(account)
    deadline = time.monotonic() + 10
    while AppPassword.objects.get().last_used_ip is None:
        assert time.monotonic() < deadline, "last-used was never written"
        time.sleep(0.05)
    assert AppPassword.objects.get().last_used_ip == CLIENT
    client.logout()


def test_round_robin_reaches_both_nodes_and_logs_the_client(cluster, account):
    for _ in range(2):
        cluster.login(account).logout()
    for node in cluster.nodes:
        assert node.log_count("cmd=Login outcome=OK") == 1, node.log.read_text()
    bad = cluster.connect()
    with pytest.raises(bad.error):
        bad.login(account.address, "not-the-password")
    deadline = time.monotonic() + 5
    while not any(node.log_count(f"login failed from {CLIENT} ") for node in cluster.nodes):
        assert time.monotonic() < deadline, "the failed login was not logged with the client address"
        time.sleep(0.05)
    assert not any(node.log_count("login failed from 127.0.0.1 ") for node in cluster.nodes)
    # HAProxy's health checks (every 200 ms) open connections that send a PROXY LOCAL header and
    # close: accepted quietly, never refused.
    assert not any(node.log_count("refused") for node in cluster.nodes)


def test_a_flag_set_through_one_node_reaches_an_idle_session_on_the_other(cluster, account, demo_mail):
    idler = cluster.login(account, "via_n2")
    writer = cluster.login(account, "via_n1")
    start_idle(idler)
    delays = []
    for round_ in range(PUSH_ROUNDS):
        change = "+FLAGS" if round_ % 2 == 0 else "-FLAGS"
        started = time.perf_counter()
        writer.send(f"s{round_} STORE 2 {change}.SILENT (\\Flagged)\r\n".encode())
        pushed = idler.readline()
        delays.append(time.perf_counter() - started)
        assert pushed == (
            b"* 2 FETCH (FLAGS (\\Flagged))\r\n" if change == "+FLAGS" else b"* 2 FETCH (FLAGS ())\r\n"
        )
        assert writer.readline().startswith(f"s{round_} OK".encode())
    stop_idle(idler)
    delays.sort()
    p50, p95 = statistics.median(delays), delays[int(len(delays) * 0.95) - 1]
    print(f"\nflag push across nodes through HAProxy: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert p50 < PUSH_MEDIAN_BOUND, delays
    assert delays[-1] < PUSH_WORST_BOUND, delays


def test_revocation_ends_sessions_on_both_nodes(cluster, account):
    on_n1, on_n2 = cluster.login(account, "via_n1"), cluster.login(account, "via_n2")
    start_idle(on_n1)
    on_n2.noop()  # one idling, one between commands: both must hear it
    service.revoke_app_password(app_password=AppPassword.objects.get())
    assert on_n1.readline() == b"* BYE This app-password was revoked.\r\n"
    assert on_n2.readline() == b"* BYE This app-password was revoked.\r\n"
    for node in cluster.nodes:
        assert node.process.poll() is None  # the nodes carry on


def test_workers_share_the_proxy_listener(tmp_path, certs, account):
    # `--workers N`: the supervisor reserves the PROXY port as it does the main one, and every
    # worker listens on it (SO_REUSEPORT). No HAProxy needed: the test sends the header itself.
    env = child_environment(LOG_LEVEL="INFO", PROXY_TRUSTED_NETWORKS="127.0.0.1/32")
    argv = [sys.executable, "manage.py", "imapd", "--port", "0", "--proxy-port", "0", "--workers", "2"]
    argv += ["--cert", str(certs.cert), "--key", str(certs.key)]
    log = tmp_path / "imapd.log"
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert "(implicit TLS, 2 workers)" in lines[0], (lines, log.read_text())
        port = int(lines[1].rsplit(":", 1)[1])
        for n in range(6):
            header = proxyproto.v2_header("192.0.2.44", 40000 + n, "127.0.0.1", port)
            client = ProxiedIMAP("127.0.0.1", port, ssl_context=certs.client_context(), header=header)
            client.login(account.address, account.password)
            client.logout()
        assert log.read_text().count("cmd=Login outcome=OK") == 6
        assert AppPassword.objects.get().last_used_ip == "192.0.2.44"
    finally:
        stop(process)


def test_a_proxy_port_without_trusted_networks_is_refused_in_words(certs):
    argv = [sys.executable, "manage.py", "imapd", "--port", "0", "--proxy-port", "0"]
    argv += ["--cert", str(certs.cert), "--key", str(certs.key)]
    result = subprocess.run(
        argv, cwd=ROOT, env=child_environment(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "--proxy-port needs PROXY_TRUSTED_NETWORKS" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_shipped_haproxy_config_is_valid(tmp_path, certs):
    # deploy/haproxy.cfg, as docker-compose.yml mounts it, with only the certificate path moved.
    haproxy = require_haproxy()
    pem = tmp_path / "haproxy.pem"
    pem.write_bytes(certs.cert.read_bytes() + certs.key.read_bytes())
    shipped = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "/tls/haproxy.pem" in shipped and "send-proxy-v2" in shipped
    config = tmp_path / "haproxy.cfg"
    config.write_text(shipped.replace("/tls/haproxy.pem", str(pem)))
    check = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in compose
