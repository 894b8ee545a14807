"""Authentication (API keys and access tokens) and the authorization rules every service applies.

Rules:
- a missing, malformed, unknown, expired or revoked key -> 401 (:class:`AuthenticationError`);
- a bearer token that is malformed, forged, expired, for another audience or from an issuer this
  server does not trust -> 401 (see :mod:`larder.server.security.tokens`);
- a key without the scope an operation needs -> 403 naming the scope (:class:`PermissionDeniedError`);
- a project the caller is not a member of -> 404 that does not reveal whether it exists.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.errors import AuthenticationError, PermissionDeniedError
from larder.server.db.models import ApiKey
from larder.server.security import apikeys

if TYPE_CHECKING:
    from larder.server.security.tokens import TokenService

PLATFORM_ROLES = ("admin", "privileged", "user")

_epoch = 0
_epoch_lock = threading.Lock()


def changed() -> None:
    """Say that who may see what has changed (a member, a share, a permission, a revoked key, a
    deleted object): caches of authorization decisions in this process drop what they hold."""
    global _epoch
    with _epoch_lock:
        _epoch += 1


def epoch() -> int:
    """A number that grows at every :func:`changed`: a cached decision taken at an older epoch is stale."""
    return _epoch


PROJECT_ROLES = ("data_owner", "data_scientist")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind an API key or an access token, and its scopes.

    ``issuer`` is None for an API key of this server, else the auth service that signed the
    token; ``key_prefix`` is the key's public prefix ("" for a linked auth service's token).
    """

    user_id: int
    username: str
    role: str
    scopes: frozenset[str]
    key_prefix: str
    issuer: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and "admin" in self.scopes

    def require_scope(self, scope: str) -> None:
        """Raise 403 unless the key carries ``scope`` (the ``admin`` scope does not imply others)."""
        if scope not in self.scopes:
            raise PermissionDeniedError(
                f"This API key lacks the '{scope}' scope needed here; create a key with "
                f"--scopes {scope} (this key has: {', '.join(sorted(self.scopes)) or 'none'}).",
                details={"required_scope": scope, "key_prefix": self.key_prefix},
            )

    def require_admin(self) -> None:
        """Raise 403 unless the user is a platform admin using a key with the ``admin`` scope."""
        if self.role != "admin":
            raise PermissionDeniedError(
                f"User '{self.username}' is not a platform admin; ask an admin to do this.",
                details={"user": self.username, "role": self.role},
            )
        self.require_scope("admin")


def authenticate(db: Session, authorization: str | None, tokens: TokenService | None = None) -> Principal:
    """Resolve an ``Authorization: ApiKey <key>`` or ``Authorization: Bearer <token>`` header to a
    :class:`Principal`.

    Args:
        db (Session): the metadata database.
        authorization (str | None): the header's value.
        tokens (TokenService | None): verifies bearer tokens; None refuses them.

    Raises:
        AuthenticationError: when the header is missing, the key is malformed, unknown, expired
            or revoked, or the token is refused. The message never contains the key or token.
    """
    if not authorization:
        raise AuthenticationError(
            "Missing API key: send the header 'Authorization: ApiKey <key>' "
            "(or 'Authorization: Bearer <token>' with an access token).",
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return _authenticate_token(db, token.strip(), tokens)
    if scheme.lower() != "apikey" or not token.strip():
        raise AuthenticationError(
            "Malformed Authorization header: expected 'ApiKey <key>' or 'Bearer <token>'."
        )
    parts = apikeys.split(token)
    if parts is None:
        raise AuthenticationError("Malformed API key: expected '<prefix>.<secret>'.")
    prefix, secret = parts
    key = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not apikeys.matches(key.salt, key.secret_hash, secret):
        raise AuthenticationError("Unknown API key.", details={"key_prefix": prefix, "reason": "key_unknown"})
    if key.revoked_at is not None:
        raise AuthenticationError(
            f"API key '{key.name}' ({prefix}) was revoked; create a new one.", details={"key_prefix": prefix}
        )
    if key.expires_at is not None and key.expires_at <= datetime.now(timezone.utc):
        raise AuthenticationError(
            f"API key '{key.name}' ({prefix}) expired at {key.expires_at.isoformat()}; create a new one.",
            details={"key_prefix": prefix},
        )
    return Principal(
        user_id=key.user_id,
        username=key.user.username,
        role=key.user.role,
        scopes=frozenset(key.scope_list),
        key_prefix=prefix,
    )


def _authenticate_token(db: Session, token: str, tokens: TokenService | None) -> Principal:
    if tokens is None:
        raise AuthenticationError(
            "This route does not accept access tokens; send 'Authorization: ApiKey <key>'.",
            details={"reason": "token_not_accepted"},
        )
    claims = tokens.verify(token)
    user = tokens.user_of(db, claims)
    scopes = claims.scopes
    if claims.issuer != tokens.public_url or user.role != "admin":
        # administering this server takes one of its own keys (or its own admin's token)
        scopes = scopes - {"admin"}
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        scopes=scopes,
        key_prefix=claims.key_prefix,
        issuer=claims.issuer,
    )
