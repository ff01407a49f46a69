"""chacha20-poly1305 with kept streams gives the bytes asyncssh's own ChaCha20 and
Poly1305 calls give (its ``ChachaCipher``, untouched, is the reference), refuses every
tampered packet, and applies to the installed asyncssh."""

from __future__ import annotations

import os
import random

import pytest
from asyncssh import encryption as asyncssh_encryption
from asyncssh.crypto.chacha import ChachaCipher
from asyncssh.packet import UInt64

from gateway.intake import chacha_packets

_SEQS = (0, 1, 3, (1 << 32) - 1, 1 << 32, (1 << 64) - 1)


def _encryption() -> asyncssh_encryption.ChachaEncryption:
    chacha_packets.keep_chacha_streams()
    return asyncssh_encryption.ChachaEncryption.new("chacha20-poly1305", os.urandom(64), b"")


def test_applies_to_the_installed_asyncssh_once() -> None:
    assert chacha_packets.keep_chacha_streams()
    shim = asyncssh_encryption.ChachaEncryption
    assert shim.decrypt_packet is chacha_packets.decrypt_packet
    assert shim.encrypt_packet is chacha_packets.encrypt_packet
    assert shim.decrypt_header is chacha_packets.decrypt_header
    assert chacha_packets.keep_chacha_streams()  # idempotent


@pytest.mark.parametrize("seq", _SEQS)
def test_packets_as_asyncssh_seals_and_opens_them(seq: int) -> None:
    encryption = _encryption()
    reference: ChachaCipher = encryption._cipher
    rng = random.Random(seq)
    for size in (0, 1, 59, 60, 64, 65, 4096, 32_768 + 27, rng.randrange(70_000)):
        header, payload = os.urandom(4), os.urandom(size)
        sealed, tag = encryption.encrypt_packet(seq, header, payload)
        assert (sealed, tag) == reference.encrypt_and_sign(header, payload, UInt64(seq))
        first, rest = sealed[:8], sealed[8:]
        assert encryption.decrypt_header(seq, first, 4) == (
            first, reference.decrypt_header(first[:4], UInt64(seq)))
        assert encryption.decrypt_header(seq, first, 4)[1] == header
        opened = encryption.decrypt_packet(seq, first, rest, 4, tag)
        assert opened == payload
        assert opened == reference.verify_and_decrypt(first[:4], first[4:] + rest,
                                                      UInt64(seq), tag)


def test_a_tampered_packet_opens_to_none() -> None:
    encryption = _encryption()
    header, payload = b"\0\0\0\x40", os.urandom(64)
    sealed, tag = encryption.encrypt_packet(7, header, payload)
    for at in range(len(sealed)):
        broken = bytearray(sealed)
        broken[at] ^= 0x01
        assert encryption.decrypt_packet(7, bytes(broken[:8]), bytes(broken[8:]), 4, tag) is None
    for at in range(len(tag)):
        broken_tag = bytearray(tag)
        broken_tag[at] ^= 0x80
        assert encryption.decrypt_packet(7, sealed[:8], sealed[8:], 4, bytes(broken_tag)) is None
    # The right packet under another sequence number is refused too (a replayed packet).
    assert encryption.decrypt_packet(8, sealed[:8], sealed[8:], 4, tag) is None
    assert encryption.decrypt_packet(7, sealed[:8], sealed[8:], 4, tag) == payload


def test_a_connection_s_packets_in_turn_as_asyncssh_gives_them() -> None:
    """The kept streams are moved to every packet's nonce: a run of packets, sealed and
    opened in turn (as a connection does) with partial blocks left in the streams."""
    encryption = _encryption()
    reference: ChachaCipher = encryption._cipher
    rng = random.Random(99)
    for seq in range(200):
        header, payload = os.urandom(4), os.urandom(rng.randrange(1, 3000))
        sealed, tag = encryption.encrypt_packet(seq, header, payload)
        assert (sealed, tag) == reference.encrypt_and_sign(header, payload, UInt64(seq))
        assert encryption.decrypt_header(seq, sealed[:8], 4)[1] == header
        assert encryption.decrypt_packet(seq, sealed[:8], sealed[8:], 4, tag) == payload
