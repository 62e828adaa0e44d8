"""imapd.proxyproto, the pure PROXY header parser: what it accepts, what it refuses, and that no
input, however hostile, makes it do anything but return or raise Malformed."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imapd import proxyproto
from imapd.proxyproto import Header, Malformed, parse, v1_header, v2_header

TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str)
ports = st.integers(0, 65535)


@given(st.one_of(ipv4, ipv6), ports, ports, st.binary(max_size=64))
def test_v2_round_trip_reads_exactly_the_header(source, sport, dport, after):
    header = v2_header(source, sport, source, dport)
    parsed = parse(header + after)
    assert parsed == Header(2, len(header), source, sport, source, dport)


@given(st.one_of(ipv4, ipv6), ports, ports, st.binary(max_size=64))
def test_v1_round_trip_reads_exactly_the_header(source, sport, dport, after):
    header = v1_header(source, sport, source, dport)
    assert parse(header + after) == Header(1, len(header), source, sport, source, dport)


@given(st.one_of(ipv4, ipv6), ports, st.sampled_from([1, 2]), st.data())
def test_every_proper_prefix_asks_for_more(source, port, version, data):
    header = (v2_header if version == 2 else v1_header)(source, port, source, port)
    cut = data.draw(st.integers(1, len(header) - 1))
    assert parse(header[:cut]) is None
    assert proxyproto.looks_like_proxy(header[:cut])


@given(st.binary(max_size=proxyproto.MAX_HEADER + 16))
def test_any_bytes_give_a_header_none_or_malformed(data):
    try:
        result = parse(data)
    except Malformed:
        return
    if result is not None:
        assert 0 < result.length <= len(data)
        assert result.length <= proxyproto.MAX_HEADER


@given(st.binary(max_size=proxyproto.MAX_HEADER))
def test_any_bytes_after_a_v2_signature_are_handled(rest):
    try:
        result = parse(proxyproto.V2_SIGNATURE + rest)
    except Malformed:
        return
    assert result is None or result.length <= proxyproto.V2_FIXED + proxyproto.MAX_V2_PAYLOAD


@given(st.binary(max_size=120).filter(lambda b: b"\n" not in b))
def test_any_v1_line_is_handled(rest):
    data = b"PROXY " + rest + b"\r\n"
    try:
        result = parse(data)
    except Malformed:
        return
    assert result is not None and result.length == len(data)


def test_local_and_unknown_keep_the_socket_peer():
    assert parse(v2_header() + TLS_HELLO) == Header(2, 16)
    assert parse(b"PROXY UNKNOWN\r\n" + TLS_HELLO) == Header(1, 15)
    assert parse(b"PROXY UNKNOWN ffff:: 1:: 1 2\r\n") == Header(1, 30)


def test_ipv4_mapped_addresses_are_read_as_ipv4():
    parsed = parse(v2_header("::ffff:192.0.2.7", 1, "::ffff:192.0.2.1", 993))
    assert parsed is not None and parsed.source == "192.0.2.7"


def test_v2_unix_and_unspec_keep_the_socket_peer():
    unix = proxyproto.V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x31, 216) + bytes(216)
    unspec = proxyproto.V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x00, 0)
    assert parse(unix) == Header(2, 16 + 216)
    assert parse(unspec) == Header(2, 16)


def test_tlvs_are_skipped_when_well_framed():
    tlvs = bytes([0x04]) + struct.pack("!H", 5) + b"abcde" + bytes([0x05, 0, 0])  # NOOP, UNIQUE_ID
    header = v2_header("198.51.100.4", 5000, "10.0.0.1", 993, tlvs=tlvs)
    parsed = parse(header)
    assert parsed is not None and parsed.length == len(header) and parsed.source == "198.51.100.4"


def _v2(first: int, second: int, payload: bytes) -> bytes:
    return proxyproto.V2_SIGNATURE + struct.pack("!BBH", first, second, len(payload)) + payload


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(TLS_HELLO, id="tls-not-proxy"),
        pytest.param(b"GET / HTTP/1.1\r\n", id="http"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", id="v1-bare-lf"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", id="v1-port-too-big"),
        pytest.param(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", id="v1-leading-zero"),
        pytest.param(b"PROXY TCP4 ::1 ::1 1 2\r\n", id="v1-family-mismatch"),
        pytest.param(b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", id="v1-double-space"),
        pytest.param(b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", id="v1-octal-looking"),
        pytest.param(b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", id="v1-udp"),
        pytest.param(b"PROXY UNKNOWNX\r\n", id="v1-unknown-glued"),
        pytest.param(b"PROXY " + b"A" * 120, id="v1-too-long"),
        pytest.param(_v2(0x11, 0x11, bytes(12)), id="v2-version-1"),
        pytest.param(_v2(0x22, 0x11, bytes(12)), id="v2-command-2"),
        pytest.param(_v2(0x21, 0x41, bytes(12)), id="v2-family-4"),
        pytest.param(_v2(0x21, 0x12, bytes(12)), id="v2-datagram"),
        pytest.param(_v2(0x21, 0x11, bytes(8)), id="v2-short-addresses"),
        pytest.param(_v2(0x21, 0x21, bytes(12)), id="v2-ipv6-in-12-bytes"),
        pytest.param(_v2(0x21, 0x11, bytes(12) + b"\x01\x00"), id="v2-truncated-tlv"),
        pytest.param(_v2(0x21, 0x11, bytes(12) + b"\x01\x00\x09abc"), id="v2-tlv-overflows"),
        pytest.param(
            proxyproto.V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, proxyproto.MAX_V2_PAYLOAD + 1),
            id="v2-over-the-cap-refused-before-reading-it",
        ),
    ],
)
def test_malformed_headers_are_refused(data):
    with pytest.raises(Malformed):
        parse(data)


def test_the_v1_bound_is_107_bytes():
    longest = b"PROXY TCP6 " + b"ffff:" * 7 + b"ffff " + b"ffff:" * 7 + b"ffff 65535 65535\r\n"
    assert len(longest) == 104
    assert parse(longest) is not None
    with pytest.raises(Malformed):
        parse(b"PROXY UNKNOWN " + b"x" * 93 + b"\r\n")  # 109 bytes
    assert parse(b"PROXY UNKNOWN " + b"x" * 91 + b"\r\n") == Header(1, 107)


def test_looks_like_proxy():
    assert proxyproto.looks_like_proxy(b"P")
    assert proxyproto.looks_like_proxy(b"\r\n\r\n")
    assert not proxyproto.looks_like_proxy(b"\x16")
    assert not proxyproto.looks_like_proxy(b"")
