"""Key generation, serialisation and the per-process parse caches of `federation.keys`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from federation.errors import ParseError
from federation.keys import (
    generate_rsa_private_key_pem,
    load_private_key,
    load_public_key,
    public_key_pem,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def _vector_key(name: str, field: str) -> str:
    doc = json.loads((VECTORS / name).read_text())
    key = doc.get("key", doc)
    value = key[field]
    assert isinstance(value, str)
    return value


def test_generated_key_is_rsa_2048_pkcs8_and_public_key_is_spki() -> None:
    private_pem = generate_rsa_private_key_pem()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    key = load_private_key(private_pem)
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537

    public_pem = public_key_pem(private_pem)
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    public = load_public_key(public_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    signature = key.sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())


def test_generated_keys_differ() -> None:
    assert generate_rsa_private_key_pem() != generate_rsa_private_key_pem()


def test_load_private_key_parses_once_per_pem() -> None:
    pem = _vector_key("verbund_test_key.json", "private_key_pem")
    first = load_private_key(pem)
    hits = load_private_key.cache_info().hits
    # An equal string from elsewhere (as read from a database) hits the cache too.
    assert load_private_key("".join(list(pem))) is first
    assert load_private_key.cache_info().hits == hits + 1


def test_load_public_key_parses_once_per_pem() -> None:
    pem = _vector_key("verbund_test_key.json", "public_key_pem")
    first = load_public_key(pem)
    assert load_public_key(pem) is first


def test_load_private_key_accepts_pkcs1_as_used_by_mastodon() -> None:
    pem = _vector_key("mastodon_signature_verification.json", "private_key_pem")
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert public_key_pem(pem) == _vector_key(
        "mastodon_signature_verification.json", "public_key_pem"
    )


def test_load_public_key_accepts_pkcs1_rsa_public_key() -> None:
    spki = _vector_key("verbund_test_key.json", "public_key_pem")
    key = load_public_key(spki)
    assert isinstance(key, rsa.RSAPublicKey)
    pkcs1 = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    reloaded = load_public_key(pkcs1)
    assert isinstance(reloaded, rsa.RSAPublicKey)
    assert reloaded.public_numbers() == key.public_numbers()


def test_load_public_key_accepts_ed25519() -> None:
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert isinstance(load_public_key(pem), ed25519.Ed25519PublicKey)


def test_load_public_key_rejects_other_key_types() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ParseError, match="RSA or Ed25519"):
        load_public_key(pem)


def test_load_private_key_rejects_non_rsa_keys() -> None:
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ParseError, match="must be RSA"):
        load_private_key(pem)


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n\u00e9\n-----END PUBLIC KEY-----\n",
    ],
)
def test_garbage_pem_raises_parse_error(pem: str) -> None:
    with pytest.raises(ParseError):
        load_public_key(pem)
    with pytest.raises(ParseError):
        load_private_key(pem)
