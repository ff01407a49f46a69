"""The PROXY header parser: v1 and v2, IPv4 and IPv6, LOCAL, UNKNOWN, TLVs, and every kind of
bad header refused with a reason; SSH bytes after a header are never taken."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.intake.proxy_header import (
    V1_MAX_BYTES,
    V2_MAX_BYTES,
    V2_SIGNATURE,
    HeaderError,
    ProxyHeader,
    Sniffed,
    parse,
    sniff,
)

SSH = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"


def v2(command: int, family: int, body: bytes) -> bytes:
    """A v2 header: signature, version/command, family/transport, length, body."""
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(body)) + body


def v2_tcp4(source: str, port: int, tlvs: bytes = b"") -> bytes:
    body = (ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address("10.0.0.1").packed
            + struct.pack("!HH", port, 2222) + tlvs)
    return v2(0x21, 0x11, body)


def v2_tcp6(source: str, port: int) -> bytes:
    body = (ipaddress.IPv6Address(source).packed + ipaddress.IPv6Address("2001:db8::1").packed
            + struct.pack("!HH", port, 2222))
    return v2(0x21, 0x21, body)


# -- sniffing: decided on the fewest bytes, never confused with SSH --------------------------

@pytest.mark.parametrize(("data", "seen"), [
    (b"", Sniffed.UNDECIDED),
    (b"PRO", Sniffed.UNDECIDED),
    (b"\r\n\r\n\x00", Sniffed.UNDECIDED),
    (b"PROXY ", Sniffed.HEADER),
    (V2_SIGNATURE, Sniffed.HEADER),
    (b"S", Sniffed.NOT_HEADER),
    (SSH, Sniffed.NOT_HEADER),
    (b"PROXX", Sniffed.NOT_HEADER),
    (b"\r\n\r\n\x01", Sniffed.NOT_HEADER),
])
def test_sniff_decides_on_the_first_bytes(data: bytes, seen: Sniffed) -> None:
    assert sniff(data) is seen


# -- v1 ------------------------------------------------------------------------------------

def test_v1_tcp4_names_the_client_and_leaves_the_ssh_bytes() -> None:
    line = b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 2222\r\n"
    header = parse(line + SSH)
    assert header == ProxyHeader(1, len(line), ("192.0.2.7", 51000))
    assert (line + SSH)[header.length:] == SSH


def test_v1_tcp6_names_the_client() -> None:
    line = b"PROXY TCP6 2001:db8::7 2001:db8::1 65535 2222\r\n"
    assert parse(line) == ProxyHeader(1, len(line), ("2001:db8::7", 65535))


def test_v1_ipv4_mapped_ipv6_is_keyed_as_ipv4() -> None:
    line = b"PROXY TCP6 ::ffff:192.0.2.7 ::ffff:10.0.0.1 1 2222\r\n"
    assert parse(line) == ProxyHeader(1, len(line), ("192.0.2.7", 1))


@pytest.mark.parametrize("line", [b"PROXY UNKNOWN\r\n",
                                  b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"])
def test_v1_unknown_names_no_client(line: bytes) -> None:
    assert parse(line + SSH) == ProxyHeader(1, len(line), None)


def test_v1_of_the_longest_allowed_lengths_is_read() -> None:
    address = ":".join(["ffff"] * 8)
    tcp6 = f"PROXY TCP6 {address} {address} 65535 65535\r\n".encode()
    assert parse(tcp6) == ProxyHeader(1, len(tcp6), (str(ipaddress.ip_address(address)),
                                                     65535))
    unknown = tcp6.replace(b"TCP6", b"UNKNOWN")
    assert len(unknown) == V1_MAX_BYTES  # the specification's worst case
    assert parse(unknown + SSH) == ProxyHeader(1, V1_MAX_BYTES, None)


@pytest.mark.parametrize(("line", "says"), [
    (b"PROXY TCP4 192.0.2.7 10.0.0.1 51000\r\n", "is not 'PROXY TCP4|TCP6"),
    (b"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n", "is not 'PROXY TCP4|TCP6"),
    (b"PROXY TCP4  192.0.2.7 10.0.0.1 1 2\r\n", "is not 'PROXY TCP4|TCP6"),
    (b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n", "is not IPv4"),
    (b"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n", "is not IPv6"),
    (b"PROXY TCP4 192.0.2.300 10.0.0.1 1 2\r\n", "is not an IP address"),
    (b"PROXY TCP4 192.0.2.7 10.0.0.1 65536 2\r\n", "is not a number from 0 to 65535"),
    (b"PROXY TCP4 192.0.2.7 10.0.0.1 051 2\r\n", "is not a number from 0 to 65535"),
    (b"PROXY TCP4 192.0.2.7 10.0.0.1 -1 2\r\n", "is not a number from 0 to 65535"),
    (b"PROXY TCP4 192.0.2.7 10.0.0.1 1 2\n", "without CRLF"),
    (b"PROXY " + b"x" * V1_MAX_BYTES, "without CRLF"),
    (b"PROXY TCP4 \xff\xfe 10.0.0.1 1 2\r\n", "is not an IP address"),
])
def test_bad_v1_headers_are_refused_with_the_reason(line: bytes, says: str) -> None:
    with pytest.raises(HeaderError, match=says):
        parse(line + SSH)


def test_a_truncated_v1_header_asks_for_more() -> None:
    line = b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 2222\r\n"
    for end in range(len(V2_SIGNATURE), len(line)):
        assert parse(line[:end]) is None


# -- v2 ------------------------------------------------------------------------------------

def test_v2_tcp4_names_the_client_and_leaves_the_ssh_bytes() -> None:
    header = v2_tcp4("192.0.2.7", 51000)
    assert parse(header + SSH) == ProxyHeader(2, len(header), ("192.0.2.7", 51000))


def test_v2_tcp6_names_the_client() -> None:
    header = v2_tcp6("2001:db8::7", 443)
    assert parse(header + SSH) == ProxyHeader(2, len(header), ("2001:db8::7", 443))


def test_v2_tlvs_are_skipped() -> None:
    tlvs = b"\x05\x00\x04abcd" + b"\x04\x00\x00" + b"\x20\x00\x05\x01\x00\x00\x00\x00"
    header = v2_tcp4("192.0.2.7", 51000, tlvs)
    parsed = parse(header + SSH)
    assert parsed == ProxyHeader(2, len(header), ("192.0.2.7", 51000))


@pytest.mark.parametrize(("command", "family", "body"), [
    (0x20, 0x11, b"\x00" * 12),  # LOCAL: a health check; its addresses are ignored
    (0x20, 0x00, b""),
    (0x21, 0x00, b""),  # AF_UNSPEC
    (0x21, 0x00, b"\x03\x00\x04\x00\x00\x00\x00"),  # AF_UNSPEC with a TLV
    (0x21, 0x31, b"\x00" * 216),  # AF_UNIX: no IP client to name
    (0x21, 0x12, b"\x00" * 12),  # UDP over IPv4: not a TCP client
])
def test_v2_without_a_tcp_client_names_none(command: int, family: int, body: bytes) -> None:
    header = v2(command, family, body)
    assert parse(header + SSH) == ProxyHeader(2, len(header), None)


@pytest.mark.parametrize(("header", "says"), [
    (v2(0x11, 0x11, b"\x00" * 12), "version/command byte 0x11"),
    (v2(0x22, 0x11, b"\x00" * 12), "version/command byte 0x22"),
    (v2(0x21, 0x11, b"\x00" * 11), "too short for its TCP4 addresses"),
    (v2(0x21, 0x21, b"\x00" * 35), "too short for its TCP6 addresses"),
    (V2_SIGNATURE + b"\x21\x11\xff\xff", "longer than the 4096 accepted"),
])
def test_bad_v2_headers_are_refused_with_the_reason(header: bytes, says: str) -> None:
    with pytest.raises(HeaderError, match=says):
        parse(header + SSH)


def test_a_v2_header_just_within_the_bound_is_read() -> None:
    header = v2(0x21, 0x11, b"\x00" * (V2_MAX_BYTES - 16))
    assert len(header) == V2_MAX_BYTES
    assert parse(header) == ProxyHeader(2, V2_MAX_BYTES, ("0.0.0.0", 0))


def test_a_truncated_v2_header_asks_for_more() -> None:
    header = v2_tcp4("192.0.2.7", 51000, b"\x05\x00\x02ab")
    for end in range(len(V2_SIGNATURE), len(header)):
        assert parse(header[:end]) is None


def test_ssh_is_not_a_header() -> None:
    with pytest.raises(HeaderError, match="not a PROXY protocol header"):
        parse(SSH)


# -- properties ------------------------------------------------------------------------------

ipv4 = st.ip_addresses(v=4).map(str)
ports = st.integers(0, 65535)


@given(ipv4, ports, st.binary(max_size=64))
def test_any_v1_tcp4_header_round_trips(address: str, port: int, after: bytes) -> None:
    line = f"PROXY TCP4 {address} 10.0.0.1 {port} 2222\r\n".encode()
    assert parse(line + after) == ProxyHeader(1, len(line), (address, port))


@given(st.ip_addresses(v=6), ports, st.binary(max_size=64))
def test_any_v2_tcp6_header_round_trips(address: ipaddress.IPv6Address, port: int,
                                        after: bytes) -> None:
    header = v2_tcp6(str(address), port)
    expected = str(address.ipv4_mapped or address)
    assert parse(header + after) == ProxyHeader(2, len(header), (expected, port))


@given(st.binary(max_size=300))
def test_garbage_after_a_signature_is_refused_or_awaited_never_crashes(tail: bytes) -> None:
    for data in (b"PROXY " + tail, V2_SIGNATURE + tail):
        try:
            header = parse(data)
        except HeaderError:
            continue
        assert header is None or 0 < header.length <= min(len(data), V2_MAX_BYTES)


@given(st.binary(min_size=1, max_size=40))
def test_sniff_never_calls_ssh_a_header(data: bytes) -> None:
    assert sniff(b"SSH-" + data) is Sniffed.NOT_HEADER
