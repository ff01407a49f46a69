"""The PROXY protocol header a load balancer puts before the SSH bytes (versions 1 and 2).

The contract follows HAProxy's ``doc/proxy-protocol.txt``:

* v1 is one text line, at most 107 bytes with its CRLF:
  ``PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>\\r\\n`` or
  ``PROXY UNKNOWN ...\\r\\n`` (the rest of the line ignored).
* v2 is binary: a 12-byte signature, version/command, family/protocol, a big-endian length,
  then the addresses and TLVs.  LOCAL (the balancer's own health checks), AF_UNSPEC and any
  family or transport other than TCP over IPv4/IPv6 carry no client: the TCP peer is used.
  TLVs are skipped.

Pure functions on bytes: :func:`sniff` says whether a connection's first bytes are a header
without consuming any, :func:`parse` reads one or asks for more bytes, and a malformed or
oversized header raises :class:`HeaderError` with a sentence saying what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX_BYTES = 107
"""The longest v1 line the specification allows, CRLF included."""
V2_FIXED_BYTES = 16
V2_MAX_BYTES = 4096
"""The longest v2 header accepted: addresses plus generous TLVs (balancers send a few dozen
bytes of them); the 16-bit length would otherwise let a header hold 64 KiB."""

_V1_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")
_V2_COMMANDS = {0x20: "local", 0x21: "proxy"}
_V2_TCP4, _V2_TCP6 = 0x11, 0x21
_V2_ADDRESS_BYTES = {_V2_TCP4: 12, _V2_TCP6: 36}


class HeaderError(ValueError):
    """The bytes start like a PROXY header but are not a valid one; the message says why."""


class Sniffed(Enum):
    """What a connection's first bytes are."""

    HEADER = "header"
    NOT_HEADER = "not a header"
    UNDECIDED = "undecided"
    """Too few bytes yet: they are the start of a header's signature."""


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed header: how many bytes it took, and the client it names (None: use the TCP
    peer, for LOCAL, UNKNOWN and AF_UNSPEC)."""

    version: int
    length: int
    client: tuple[str, int] | None


def sniff(data: bytes) -> Sniffed:
    """Whether ``data`` (a connection's first bytes) begins with a v1 or v2 signature."""
    for signature in (V1_PREFIX, V2_SIGNATURE):
        if data.startswith(signature):
            return Sniffed.HEADER
        if signature.startswith(data):
            return Sniffed.UNDECIDED  # also for b"": nothing seen yet
    return Sniffed.NOT_HEADER


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data`` (which :func:`sniff` found to be one), or None
    while more bytes are needed.

    Raises :class:`HeaderError` when it is malformed or longer than allowed.
    """
    if data.startswith(V1_PREFIX):
        return _parse_v1(data)
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    raise HeaderError("not a PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    newline = data.find(b"\n", 0, V1_MAX_BYTES)
    if newline < 0 and len(data) < V1_MAX_BYTES:
        return None
    if newline < 0 or data[newline - 1:newline] != b"\r":
        raise HeaderError(f"v1 header without CRLF in its first {V1_MAX_BYTES} bytes")
    fields = data[:newline - 1].split(b" ")
    length = newline + 1
    if fields[1:2] == [b"UNKNOWN"]:
        return ProxyHeader(1, length, None)
    if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
        raise HeaderError("v1 header is not 'PROXY TCP4|TCP6 <source> <destination> "
                          "<source port> <destination port>' or 'PROXY UNKNOWN'")
    version = 4 if fields[1] == b"TCP4" else 6
    source = _v1_address(fields[2], version)
    _v1_address(fields[3], version)
    port = _v1_port(fields[4])
    _v1_port(fields[5])
    return ProxyHeader(1, length, (source, port))


def _v1_address(text: bytes, version: int) -> str:
    try:
        address = ipaddress.ip_address(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise HeaderError(f"v1 header address {_shown(text)} is not an IP address") from None
    if address.version != version:
        raise HeaderError(f"v1 header address {address} is not IPv{version}")
    return client_text(address)


def _v1_port(text: bytes) -> int:
    if not _V1_PORT.fullmatch(text) or int(text) > 65535:
        raise HeaderError(f"v1 header port {_shown(text)} is not a number from 0 to 65535")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < V2_FIXED_BYTES:
        return None
    command = _V2_COMMANDS.get(data[12])
    if command is None:
        raise HeaderError(f"v2 header version/command byte 0x{data[12]:02x} is not "
                          "0x20 (LOCAL) or 0x21 (PROXY)")
    length = V2_FIXED_BYTES + int.from_bytes(data[14:16], "big")
    if length > V2_MAX_BYTES:
        raise HeaderError(f"v2 header of {length} bytes is longer than the "
                          f"{V2_MAX_BYTES} accepted")
    if len(data) < length:
        return None
    family = data[13]
    if command == "local" or family not in _V2_ADDRESS_BYTES:
        return ProxyHeader(2, length, None)  # no client named: the TCP peer stands
    if length - V2_FIXED_BYTES < _V2_ADDRESS_BYTES[family]:
        raise HeaderError(f"v2 header too short for its {'TCP4' if family == _V2_TCP4 else 'TCP6'}"
                          f" addresses ({length - V2_FIXED_BYTES} bytes)")
    return ProxyHeader(2, length, _v2_source(data, family))


def _v2_source(data: bytes, family: int) -> tuple[str, int]:
    size = 4 if family == _V2_TCP4 else 16
    start = V2_FIXED_BYTES
    address = ipaddress.ip_address(data[start:start + size])
    port_at = start + 2 * size
    return client_text(address), int.from_bytes(data[port_at:port_at + 2], "big")


def client_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """An address as bans and logs key it: IPv4-mapped IPv6 as plain IPv4, so one client
    is one key whichever way the balancer wrote it."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _shown(text: bytes) -> str:
    """Untrusted header bytes, escaped and shortened, for an error message."""
    return repr(text[:48].decode("ascii", "backslashreplace"))
