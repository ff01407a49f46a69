"""chacha20-poly1305@openssh.com packets with one ChaCha20 stream per key, kept.

OpenSSH's construction (PROTOCOL.chacha20poly1305) keys each packet's stream with the
packet's sequence number: keystream block 0 of the main key gives the Poly1305 key and
blocks 1 onwards encrypt the payload; the length field has its own key.  asyncssh builds a
new cipher object for the length and for each of the two (``poly1305_key`` and
``chacha20(..., ctr=1)``), three per packet, and joins the length and payload into another
copy of the packet to tag it.  Building cryptography's cipher objects (its ABC checks, an
OpenSSL context each: 4.3 us) costs more than the ChaCha20 itself for a 32 KiB packet, the
size OpenSSH's sftp client sends.

Here each direction of a connection keeps one stream per key, moved to each packet's nonce
(``reset_nonce``: 0.7 us); the payload's stream serves block 0 and then the payload (its
next block is block 1, as asyncssh's ``ctr=1``), and Poly1305 is fed the parts in place.

Contract: for every packet the results equal asyncssh's own ``ChachaEncryption`` methods,
and a packet whose tag does not verify decrypts to None; the tests
(``tests/unit/intake/test_chacha_packets.py``) compare both on random packets and tampered
ones, and the intake's client tests connect with OpenSSH's chacha20 through it.
"""

from __future__ import annotations

from typing import Any

from asyncssh import encryption as asyncssh_encryption
from asyncssh.crypto.chacha import ChachaCipher
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext
from cryptography.hazmat.primitives.ciphers.algorithms import ChaCha20
from cryptography.hazmat.primitives.poly1305 import Poly1305

_COUNTER_0 = bytes(8)
"""The stream's 64-bit block counter, little-endian: cryptography's ChaCha20 nonce is the
counter then OpenSSH's 64-bit nonce (the packet's sequence number, big-endian)."""
_BLOCK_0 = bytes(64)
_POLY1305_KEY_BYTES = 32


class _Streams:
    """One connection direction's two ChaCha20 keystreams, moved to each packet's nonce
    with ``reset_nonce`` (cryptography >= 43) instead of built anew for every packet."""

    __slots__ = ("length", "payload")

    def __init__(self, cipher: Any) -> None:
        self.length = Cipher(ChaCha20(cipher._adkey, bytes(16)), mode=None).encryptor()
        self.payload = Cipher(ChaCha20(cipher._key, bytes(16)), mode=None).encryptor()


def _streams(encryption: Any) -> _Streams:
    """``encryption``'s streams (made on its first packet; it is used on one thread)."""
    streams: _Streams | None = encryption.__dict__.get("_streams")
    if streams is None:
        streams = encryption._streams = _Streams(encryption._cipher)
    return streams


def _at(stream: CipherContext, seq: int) -> CipherContext:
    """``stream`` from block 0 of packet ``seq``'s keystream."""
    stream.reset_nonce(_COUNTER_0 + seq.to_bytes(8, "big"))
    return stream


def _tagger(stream: CipherContext) -> Poly1305:
    """A Poly1305 keyed with ``stream``'s block 0 (the stream then stands at block 1)."""
    return Poly1305(stream.update(_BLOCK_0)[:_POLY1305_KEY_BYTES])


def encrypt_packet(encryption: Any, seq: int, header: bytes, packet: bytes
                   ) -> tuple[bytes, bytes]:
    """``ChachaEncryption.encrypt_packet``: the encrypted length and packet, and the tag."""
    streams = _streams(encryption)
    sealed_header = _at(streams.length, seq).update(header)
    stream = _at(streams.payload, seq)
    tagger = _tagger(stream)
    sealed = stream.update(packet)
    tagger.update(sealed_header)
    tagger.update(sealed)
    return sealed_header + sealed, tagger.finalize()


def decrypt_header(encryption: Any, seq: int, first_block: bytes, header_len: int
                   ) -> tuple[bytes, bytes]:
    """``ChachaEncryption.decrypt_header``: the first block as read, and the length."""
    return first_block, _at(_streams(encryption).length, seq).update(first_block[:header_len])


def decrypt_packet(encryption: Any, seq: int, first: bytes, rest: bytes, header_len: int,  # noqa: PLR0917 - asyncssh calls it so
                   mac: bytes) -> bytes | None:
    """``ChachaEncryption.decrypt_packet``: the packet after the length, or None when the
    tag over the encrypted length and packet (``first`` then ``rest``) does not verify."""
    stream = _at(_streams(encryption).payload, seq)
    tagger = _tagger(stream)
    tagger.update(first)
    tagger.update(rest)
    try:
        tagger.verify(mac)
    except InvalidSignature:
        return None
    return stream.update(first[header_len:]) + stream.update(rest)


_REPLACED = {"encrypt_packet": encrypt_packet, "decrypt_header": decrypt_header,
             "decrypt_packet": decrypt_packet}


def keep_chacha_streams() -> bool:
    """Give asyncssh's chacha20-poly1305 these methods (idempotent).  Returns False, leaving
    asyncssh as it is, when its shim does not keep the keys as this expects (the payload key
    in ``_cipher._key``, the length key in ``_cipher._adkey``)."""
    shim = asyncssh_encryption.ChachaEncryption
    if all(getattr(shim, name) is method for name, method in _REPLACED.items()):
        return True
    keys = ChachaCipher.__init__.__code__.co_names
    if "_cipher" not in shim.__init__.__code__.co_names or \
            keys[-2:] != ("_key", "_adkey") or \
            shim.decrypt_packet.__code__.co_varnames[:6] != \
            ("self", "seq", "first", "rest", "header_len", "mac"):
        return False
    for name, method in _REPLACED.items():
        setattr(shim, name, method)
    return True
