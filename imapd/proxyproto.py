"""The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): a pure parser.

A load balancer in TCP mode (HAProxy `send-proxy-v2`) opens its own connection to imapd, so the
socket's peer is the balancer. It first sends one header carrying the client's address; imapd
reads it before the TLS ClientHello and uses that address as the connection's peer.

`parse(data)` looks at the bytes received so far (which may run past the header into the TLS
record) and returns the Header once it is complete, None while more bytes are needed, or raises
Malformed. It does no I/O, so the caller decides how much to read: everything it peeked while
parse() says None is header, and once a Header comes back exactly `Header.length` bytes are.

Version 1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\\r\\n` or `PROXY UNKNOWN ...\\r\\n`, at most
107 bytes. Version 2: a 12-byte signature, version/command, family/protocol, a 16-bit length,
then the addresses and optional TLVs. We read no TLV, but check their framing and cap their
size (MAX_V2_PAYLOAD): the header is read before anything else and must stay small.

LOCAL (v2) and UNKNOWN (v1) are the proxy speaking for itself (health checks): no client
address; the connection keeps the socket's own peer. So does a v2 AF_UNIX or AF_UNSPEC header.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the spec's bound, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/protocol, length
# The largest address block is AF_UNIX's 216 bytes; HAProxy's optional TLVs (unique id, SSL
# details, authority) fit easily in the rest. A longer header is refused, not read.
MAX_V2_PAYLOAD = 1024
MAX_HEADER = V2_FIXED + MAX_V2_PAYLOAD  # the most a caller ever needs to look at

_ADDRESS = rb"([0-9a-fA-F.:]{1,45})"
_PORT = rb"(0|[1-9][0-9]{0,4})"  # decimal, no leading zero (spec 2.1)
_V1_LINE = re.compile(b" ".join([rb"PROXY (TCP4|TCP6)", _ADDRESS, _ADDRESS, _PORT, _PORT]) + b"\r\n")
_ADDRESS_SIZES = {1: 12, 2: 36, 3: 216}  # AF_INET, AF_INET6, AF_UNIX: src, dst (and ports)


class Malformed(ValueError):
    """Not a PROXY header we accept. The text is ours, never the client's bytes."""


@dataclass(frozen=True)
class Header:
    version: int
    length: int  # bytes of the connection the header takes
    source: str | None = None  # the client's address; None: keep the socket's peer
    source_port: int | None = None
    destination: str | None = None
    destination_port: int | None = None


def looks_like_proxy(data: bytes) -> bool:
    """Whether the first bytes of a connection (at least one) begin a PROXY header of either version."""
    if not data:
        return False
    return any(data[: len(sig)] == sig[: len(data)] for sig in (V1_PREFIX, V2_SIGNATURE))


def parse(data: bytes) -> Header | None:
    if not data:
        return None
    if V2_SIGNATURE.startswith(data[: len(V2_SIGNATURE)]):
        return _parse_v2(data)
    if V1_PREFIX.startswith(data[: len(V1_PREFIX)]):
        return _parse_v1(data)
    raise Malformed("no PROXY header")


def _parse_v1(data: bytes) -> Header | None:
    end = data.find(b"\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise Malformed(f"PROXY v1 header longer than {V1_MAX} bytes")
        return None
    line = data[: end + 1]
    if not line.endswith(b"\r\n"):
        raise Malformed("PROXY v1 header not ended by CRLF")
    if line.startswith(b"PROXY UNKNOWN"):  # the rest of the line is to be ignored (spec 2.1)
        if line[len(b"PROXY UNKNOWN")] not in b" \r":
            raise Malformed("PROXY v1 header with an unknown protocol")
        return Header(version=1, length=len(line))
    match = _V1_LINE.fullmatch(line)
    if match is None:
        raise Malformed("PROXY v1 header malformed")
    family, source, destination, source_port, destination_port = match.groups()
    kind = ipaddress.IPv4Address if family == b"TCP4" else ipaddress.IPv6Address
    try:
        src = kind(source.decode("ascii"))
        dst = kind(destination.decode("ascii"))
    except ValueError:
        raise Malformed(f"PROXY v1 header with a bad {family.decode()} address") from None
    ports = int(source_port), int(destination_port)
    if max(ports) > 65535:
        raise Malformed("PROXY v1 header with a port over 65535")
    return Header(1, len(line), _plain(src), ports[0], _plain(dst), ports[1])


def _parse_v2(data: bytes) -> Header | None:
    if len(data) < V2_FIXED:
        return None
    version_command, family_protocol, size = struct.unpack("!BBH", data[12:V2_FIXED])
    if version_command >> 4 != 2:
        raise Malformed("PROXY v2 header with an unknown version")
    command = version_command & 0x0F
    if command not in (0, 1):  # LOCAL, PROXY
        raise Malformed("PROXY v2 header with an unknown command")
    if size > MAX_V2_PAYLOAD:
        raise Malformed(f"PROXY v2 header longer than {MAX_V2_PAYLOAD} bytes after the fixed part")
    family, protocol = family_protocol >> 4, family_protocol & 0x0F
    if family > 3 or protocol > 2:
        raise Malformed("PROXY v2 header with an unknown address family or protocol")
    if len(data) < V2_FIXED + size:
        return None
    payload = data[V2_FIXED : V2_FIXED + size]
    length = V2_FIXED + size
    if command == 0:  # LOCAL: the proxy's own connection; the address block is to be ignored
        return Header(version=2, length=length)
    if protocol == 2:
        raise Malformed("PROXY v2 header for a datagram connection")
    address_size = _ADDRESS_SIZES.get(family, 0)
    if size < address_size:
        raise Malformed("PROXY v2 header shorter than its addresses")
    _check_tlvs(payload[address_size:])
    if family not in (1, 2):  # AF_UNSPEC or AF_UNIX: nothing an IP limit could use; keep the peer
        return Header(version=2, length=length)
    width = 4 if family == 1 else 16
    src = ipaddress.ip_address(payload[:width])
    dst = ipaddress.ip_address(payload[width : 2 * width])
    ports = struct.unpack("!HH", payload[2 * width : 2 * width + 4])
    return Header(2, length, _plain(src), ports[0], _plain(dst), ports[1])


def _plain(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An IPv4-mapped IPv6 address as the IPv4 address it is, so limits count one client once."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _check_tlvs(tlvs: bytes) -> None:
    """Each TLV is type (1 byte), length (2 bytes), value; they must tile the rest exactly."""
    offset = 0
    while offset < len(tlvs):
        if offset + 3 > len(tlvs):
            raise Malformed("PROXY v2 header with a truncated TLV")
        (value_size,) = struct.unpack("!H", tlvs[offset + 1 : offset + 3])
        offset += 3 + value_size
        if offset > len(tlvs):
            raise Malformed("PROXY v2 header with a TLV longer than the header")


def v1_header(source: str, source_port: int, destination: str, destination_port: int) -> bytes:
    """A version 1 header (for tests and tools that speak to an imapd PROXY listener)."""
    family = "TCP6" if ipaddress.ip_address(source).version == 6 else "TCP4"
    return f"PROXY {family} {source} {destination} {source_port} {destination_port}\r\n".encode()


def v2_header(
    source: str | None = None,
    source_port: int = 0,
    destination: str | None = None,
    destination_port: int = 0,
    *,
    tlvs: bytes = b"",
) -> bytes:
    """A version 2 header: PROXY with both addresses, or LOCAL when `source` is None."""
    if source is None:
        return V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x00, len(tlvs)) + tlvs
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination or source)
    family = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", source_port, destination_port) + tlvs
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(body)) + body
