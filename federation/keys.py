"""Key material for HTTP signatures: generate, serialise and load keys.

Owns RSA key generation (PKCS#8 private, SPKI public PEM) and the
process-wide parse caches. Parsing an RSA private key costs about 60 ms and
a public key tens of microseconds, so both loaders are memoised by the PEM
string: each key is parsed once per process, however many requests it
signs or verifies.

Pure protocol code: it must not import SQLAlchemy, aiohttp, `server` or any
other package of ours except `federation.errors`.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation.errors import ParseError

__all__ = [
    "PublicKey",
    "generate_rsa_private_key_pem",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
]

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
"""Key types an incoming signature may be checked against."""

# Bounded so a flood of distinct remote keys cannot grow memory without limit;
# large enough that every active peer stays parsed.
_PRIVATE_CACHE_SIZE = 4096
_PUBLIC_CACHE_SIZE = 16384


def generate_rsa_private_key_pem() -> str:
    """A fresh RSA-2048 key as unencrypted PKCS#8 PEM (what Mastodon and bovine use)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(private_pem: str) -> str:
    """The SPKI PEM (`-----BEGIN PUBLIC KEY-----`) that goes into `publicKeyPem`.

    Raises ParseError if `private_pem` is not an RSA private key.
    """
    return (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode("ascii")
    )


@functools.lru_cache(maxsize=_PRIVATE_CACHE_SIZE)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Parse an unencrypted RSA private key (PKCS#8 or PKCS#1 PEM), once per process.

    Raises ParseError for anything else. Failures are not cached.
    """
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ParseError(f"not a usable PEM private key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ParseError(f"private key must be RSA, got {type(key).__name__}")
    return key


@functools.lru_cache(maxsize=_PUBLIC_CACHE_SIZE)
def load_public_key(pem: str) -> PublicKey:
    """Parse a public key PEM (SPKI, or PKCS#1 `RSA PUBLIC KEY`), once per process.

    RSA is what the fediverse uses today; Ed25519 is accepted because
    Mastodon main and FEP-521a started publishing such keys. Raises
    ParseError for unparsable PEM or any other key type. Failures are not
    cached.
    """
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ParseError(f"not a usable PEM public key: {type(exc).__name__}") from None
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    raise ParseError(f"public key must be RSA or Ed25519, got {type(key).__name__}")
