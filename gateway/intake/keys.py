"""Institutions' public keys: OpenSSH ``authorized_keys`` lines, modern key types only.

Accepted: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa of at least 2048 bits (RSA
logins must then sign with SHA-2; see gateway.intake.auth).  A line with options in front of
the key is refused: the gateway has its own ``allowed_cidrs`` instead of ``from=``.
"""

from __future__ import annotations

import asyncssh
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from gateway.settings import ConfigError

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "ssh-rsa")
MIN_RSA_BITS = 2048


def parse_authorized_key(where: str, line: str) -> asyncssh.SSHKey:
    """Parse one ``type base64 [comment]`` line; raise ConfigError naming ``where`` and the
    fix when it is not an acceptable key."""
    text = line.strip()
    key_type = text.split(maxsplit=1)[0] if text else ""
    if key_type not in KEY_TYPES:
        raise ConfigError(
            f"{where}: expected a public key line starting with one of {', '.join(KEY_TYPES)} "
            f"(got {key_type[:30]!r}); options before the key are not supported, use "
            "allowed_cidrs to limit where logins come from")
    try:
        key = asyncssh.import_public_key(text)
        parsed = load_ssh_public_key(text.encode())
    except (asyncssh.KeyImportError, ValueError, TypeError) as error:
        raise ConfigError(f"{where}: not an OpenSSH public key line ({error})") from None
    if isinstance(parsed, rsa.RSAPublicKey) and parsed.key_size < MIN_RSA_BITS:
        raise ConfigError(f"{where}: this RSA key has {parsed.key_size} bits; use at least "
                          f"{MIN_RSA_BITS} (or better, an ed25519 key)")
    return key
