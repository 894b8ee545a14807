"""API key secrets: generation, salted hashing, parsing.

A key reads ``<prefix>.<secret>``: the prefix (16 hex characters) is public and identifies the key
in listings and logs; the secret (43 URL-safe characters, 256 bits) is shown once and stored only as
``sha256(salt || secret)`` with a per-key random salt. A slow password hash is not needed: the
secret is random with 256 bits of entropy, so it cannot be guessed from its hash, and a fast check
keeps authentication off the hot path of online serving.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

SCOPES = ("project", "featurestore", "modelregistry", "dataset", "admin")
PREFIX_HEX_CHARS = 16


@dataclass(frozen=True)
class NewKey:
    prefix: str
    salt: str
    secret_hash: str
    plaintext: str

    def __repr__(self) -> str:  # never show the secret
        return f"NewKey(prefix={self.prefix!r})"


def hash_secret(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def generate() -> NewKey:
    prefix = secrets.token_hex(PREFIX_HEX_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(prefix, salt, hash_secret(salt, secret), f"{prefix}.{secret}")


def split(plaintext: str) -> tuple[str, str] | None:
    """Split a presented key into (prefix, secret), or None when it is not shaped like a key."""
    prefix, dot, secret = plaintext.strip().partition(".")
    if not dot or len(prefix) != PREFIX_HEX_CHARS or not secret or len(secret) > 128:
        return None
    try:
        bytes.fromhex(prefix)
    except ValueError:
        return None
    return prefix, secret


def matches(salt: str, secret_hash: str, secret: str) -> bool:
    return hmac.compare_digest(hash_secret(salt, secret), secret_hash)
