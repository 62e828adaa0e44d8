"""The PROXY protocol listener on a real server, real sockets and real TLS: the address in a trusted
balancer's header becomes the connection's peer (last-used, connection limits, logs); everything
else on that listener is refused, closed and logged, never with a traceback.

The trusted network is 127.0.0.1/32; a connection bound to 127.0.0.2 plays an outsider."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imapd import proxyproto
from imapd.proxylisten import TrustedNetworks
from imapd.server import ServerOptions
from passwords.models import AppPassword
from tests.conftest import RunningServer
from tests.imapd.proxyclient import ProxiedIMAP, raw_exchange

CLIENT = "198.51.100.7"
OUTSIDER = "127.0.0.2"


@pytest.fixture
def proxy_server(transactional_db, certs) -> Iterator[RunningServer]:
    options = ServerOptions(
        first_byte_timeout=1.0,
        failure_delay=0.01,
        shutdown_grace=2.0,
        proxy_header_timeout=0.5,
        max_unauthenticated_per_address=2,
    )
    running = RunningServer(certs, options)

    async def listen() -> list[tuple[str, int]]:
        return running.server.listen("127.0.0.1", 0, proxy=TrustedNetworks(["127.0.0.1/32"]))

    running.proxy_port = running.call(listen())[0][1]  # type: ignore[attr-defined]
    yield running
    running.stop()


def connect(server, certs, *, header: bytes, source: str = "127.0.0.1") -> ProxiedIMAP:
    return ProxiedIMAP(
        "127.0.0.1", server.proxy_port, ssl_context=certs.client_context(), source=source, header=header
    )


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "header",
    [
        proxyproto.v2_header(CLIENT, 50123, "127.0.0.1", 993),
        proxyproto.v1_header(CLIENT, 50123, "127.0.0.1", 993),
    ],
    ids=["v2", "v1"],
)
def test_the_header_address_is_the_peer_last_used_sees(proxy_server, certs, account, header, caplog):
    caplog.set_level(logging.INFO, logger="imapd")
    client = connect(proxy_server, certs, header=header)
    client.login(account.address, account.password)
    wait_for(lambda: AppPassword.objects.get().last_used_ip is not None)
    assert AppPassword.objects.get().last_used_ip == CLIENT
    client.logout()


def test_a_failed_login_is_logged_with_the_client_address(proxy_server, certs, account, caplog):
    caplog.set_level(logging.INFO, logger="imapd")
    client = connect(proxy_server, certs, header=proxyproto.v2_header(CLIENT, 1, "127.0.0.1", 993))
    with pytest.raises(client.error):
        client.login(account.address, "not-the-password")
    assert f"login failed from {CLIENT}" in caplog.text
    client.logout()


def test_local_keeps_the_balancer_address(proxy_server, certs, account):
    client = connect(proxy_server, certs, header=proxyproto.v2_header())  # a health check
    client.login(account.address, account.password)
    wait_for(lambda: AppPassword.objects.get().last_used_ip is not None)
    assert AppPassword.objects.get().last_used_ip == "127.0.0.1"
    client.logout()


def test_connection_limits_count_the_client_not_the_balancer(proxy_server, certs):
    # Two not-logged-in connections per address (the fixture's limit): a third from the same client
    # is refused, while another client behind the same balancer still gets in.
    first = connect(proxy_server, certs, header=proxyproto.v2_header(CLIENT, 1, "127.0.0.1", 993))
    second = connect(proxy_server, certs, header=proxyproto.v2_header(CLIENT, 2, "127.0.0.1", 993))
    third_sock = socket.create_connection(("127.0.0.1", proxy_server.proxy_port), 10)
    third_sock.sendall(proxyproto.v2_header(CLIENT, 3, "127.0.0.1", 993))
    tls = certs.client_context().wrap_socket(third_sock, server_hostname="127.0.0.1")
    assert tls.recv(200).startswith(b"* BYE Too many connections from your address")
    tls.close()
    other = connect(proxy_server, certs, header=proxyproto.v2_header("203.0.113.9", 4, "127.0.0.1", 993))
    assert other.welcome.startswith(b"* OK")
    for client in (first, second, other):
        client.logout()


def test_an_outsider_without_a_header_is_served_as_itself(proxy_server, certs, account):
    client = connect(proxy_server, certs, header=b"", source=OUTSIDER)
    client.login(account.address, account.password)
    wait_for(lambda: AppPassword.objects.get().last_used_ip is not None)
    assert AppPassword.objects.get().last_used_ip == OUTSIDER
    client.logout()


def refused(server, data: bytes, source: str = "127.0.0.1") -> bytes:
    return raw_exchange("127.0.0.1", server.proxy_port, data, source=source)


@pytest.mark.parametrize("version", [1, 2])
def test_an_outsider_sending_a_header_is_refused(proxy_server, version, caplog):
    caplog.set_level(logging.INFO, logger="imapd")
    header = (proxyproto.v2_header if version == 2 else proxyproto.v1_header)("10.9.8.7", 1, "127.0.0.1", 993)
    assert refused(proxy_server, header, source=OUTSIDER) == b""  # closed, not a word
    wait_for(lambda: f"refused {OUTSIDER}: a PROXY header from an untrusted network" in caplog.text)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x16\x03\x01\x00\x05hello", "no PROXY header from a trusted network"),
        (b"", "no complete PROXY header in time"),
        (b"PROXY TCP4 1.2.3.4", "no complete PROXY header in time"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", "a port over 65535"),
        (b"PROXY " + b"x" * 200, "longer than 107 bytes"),
        (proxyproto.V2_SIGNATURE + b"\x21\x11\xff\xff", "longer than 1024 bytes"),
        (proxyproto.V2_SIGNATURE + b"\x21\x11\x00\x0c" + b"\x01\x02", "closed inside the PROXY header"),
    ],
    ids=["tls-without-header", "silence", "slow", "bad-port", "v1-too-long", "v2-too-long", "v2-cut-short"],
)
def test_a_trusted_peer_without_a_good_header_is_refused(proxy_server, data, reason, caplog):
    caplog.set_level(logging.INFO, logger="imapd")
    if reason == "closed inside the PROXY header":
        with socket.create_connection(("127.0.0.1", proxy_server.proxy_port), 5) as sock:
            sock.sendall(data)
            time.sleep(0.1)
    else:
        assert refused(proxy_server, data) == b""
    wait_for(lambda: "on the PROXY listener: " in caplog.text)
    line = next(r.getMessage() for r in caplog.records if "on the PROXY listener" in r.getMessage())
    assert reason in line
    assert not any(r.exc_info for r in caplog.records)


def test_the_header_is_read_within_the_timeout(proxy_server):
    started = time.monotonic()
    refused(proxy_server, b"")
    assert time.monotonic() - started < 2.0  # proxy_header_timeout is 0.5 s


def test_the_plain_listener_is_unchanged(proxy_server, certs, account):
    # A PROXY header on the ordinary port is plaintext like any other: the TLS sentence, no belief.
    answer = raw_exchange("127.0.0.1", proxy_server.port, proxyproto.v1_header(CLIENT, 1, "127.0.0.1", 993))
    assert answer.startswith(b"* BYE This port requires TLS")


def test_trusted_networks_match_addresses_only():
    assert "127.0.0.5" in TrustedNetworks(["127.0.0.0/8"])
    assert "::ffff:127.0.0.5" in TrustedNetworks(["127.0.0.0/8"])
    assert "localhost" not in TrustedNetworks(["127.0.0.0/8"])
    assert "10.0.0.1" not in TrustedNetworks(["127.0.0.0/8", "::/0"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=200).map(lambda b: proxyproto.V2_SIGNATURE + b),
        st.binary(max_size=120).map(lambda b: b"PROXY " + b),
    )
)
def test_hostile_bytes_from_a_trusted_peer_never_make_a_traceback(proxy_server, caplog, data):
    # Sent, then the write side closed: the server must answer with a close (and a log line),
    # whatever the bytes; a traceback anywhere in the server fails the test.
    caplog.clear()
    with socket.create_connection(("127.0.0.1", proxy_server.proxy_port), 5) as sock:
        try:  # the server may have closed already (a bad header): that is an answer too
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            while sock.recv(4096):
                pass
        except OSError:
            pass
    assert not any(record.exc_info for record in caplog.records)
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)
