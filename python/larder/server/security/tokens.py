"""Access tokens: the auth service (an API key exchanged for a short-lived signed JWT) and the
verification of tokens from this server's own auth service and from the one it is linked to.

- Tokens are JWTs signed with **EdDSA (Ed25519)**, ``kid`` in the header; claims ``iss`` (the
  issuing server's public URL), ``sub`` (the user name), ``aud`` (the public URL of the server the
  token is for), ``scopes`` (the exchanged key's), ``role`` (the user's on the issuer), ``key`` (the
  exchanged key's public prefix), ``jti``, ``iat`` and ``exp`` (``token_lifetime_seconds``,
  default 900).
- Signing keys live in the metadata database (``signing_keys``; private keys encrypted with the
  home's secret box). ``larder server rotate-keys`` makes a new key the signing one; the old one
  stays in the JWKS and verifies until its last token expired (lifetime + leeway).
- Verification pins the algorithm (``alg`` must be EdDSA: ``none`` and HS256 are refused before
  any key is touched), checks the issuer (this server, or the linked auth service), the audience
  (this server's public URL), ``exp``/``iat`` with ``leeway`` seconds (default 60) of clock skew.
  A linked issuer's JWKS is fetched once and cached; it is refetched only for an unknown ``kid``,
  at most once per :data:`JWKS_MIN_REFETCH_S` seconds.
- A token of the linked auth service maps to the local user of the same name; a user seen for the
  first time is created as a **federated** user (role ``user``, no project, no key). Such tokens
  never carry the ``admin`` scope here, and never act as one of this server's admins (the
  ``admin`` every home starts with included): administering a server needs one of its own keys.

Tokens are never logged and never appear in messages; errors name the issuer, the audience and
the ``kid``, which are not secrets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from larder.errors import AuthenticationError, InvalidArgumentError, NotFoundError, ServiceUnavailableError
from larder.names import USER_NAME_PATTERN
from larder.server.db.models import SigningKey, User
from larder.server.security import apikeys
from larder.server.security.secretbox import SecretBox

log = logging.getLogger("larder.server.auth")

ALGORITHM = "EdDSA"
JWKS_PATH = "/api/v1/auth/jwks"
TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a route, not a secret
JWKS_MIN_REFETCH_S = 2.0
"""A linked issuer's JWKS is refetched (for an unknown ``kid``) at most this often, seconds."""
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"]
_VERIFIED_MAX = 10_000
_USER_NAME = re.compile(USER_NAME_PATTERN)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_signing_key(box: SecretBox) -> SigningKey:
    """A fresh Ed25519 signing key as a database row (not added to a session)."""
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid = _b64(hashlib.sha256(raw).digest()[:12])
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": kid, "alg": ALGORITHM, "use": "sig"}
    return SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key=box.encrypt(pem),
        public_jwk=json.dumps(jwk),
        created_at=_now(),
    )


def active_key(db: Session) -> SigningKey | None:
    """The key that signs new tokens: the newest one not retired."""
    return db.scalar(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.id.desc()).limit(1)
    )


def ensure_signing_key(db: Session, box: SecretBox) -> SigningKey:
    """The active signing key, created (and committed) when there is none."""
    row = active_key(db)
    if row is None:
        row = new_signing_key(box)
        db.add(row)
        db.commit()
    return row


@dataclass(frozen=True)
class Rotation:
    """What ``rotate`` did: the new signing key, and the keys retired or removed."""

    kid: str
    retired: list[str]
    removed: list[str]


def rotate(db: Session, box: SecretBox, lifetime_s: float, leeway_s: float) -> Rotation:
    """Make a new key the signing key. The previous ones stop signing now and keep verifying for
    ``lifetime_s + leeway_s`` seconds (their last tokens' expiry); keys past that are deleted.

    Example:
        >>> rotate(db, box, 900, 60).kid  # doctest: +SKIP
        'q3v...'
    """
    now = _now()
    removed = []
    for old in db.scalars(select(SigningKey).where(SigningKey.verify_until.is_not(None))):
        assert old.verify_until is not None
        if old.verify_until <= now:
            removed.append(old.kid)
            db.delete(old)
    retired = []
    for old in db.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        old.retired_at = now
        old.verify_until = now + timedelta(seconds=lifetime_s + leeway_s)
        retired.append(old.kid)
    row = new_signing_key(box)
    db.add(row)
    db.commit()
    return Rotation(row.kid, retired, removed)


def _public_key(jwk: dict[str, Any]) -> Ed25519PublicKey | None:
    """The Ed25519 public key of a JWK, or None when it is not one (other keys are ignored)."""
    import base64

    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        return None
    try:
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


def _keys_of(jwks: Any) -> dict[str, Ed25519PublicKey]:
    out: dict[str, Ed25519PublicKey] = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            key = _public_key(jwk)
            if key is not None:
                out[jwk["kid"]] = key
    return out


class _RemoteKeys:
    """The cached JWKS of a linked auth service: fetched on first need, refetched only for an
    unknown ``kid`` and at most every :data:`JWKS_MIN_REFETCH_S` seconds."""

    def __init__(self, issuer: str, trust_store: str | None, timeout: float = 10.0) -> None:
        self.issuer = issuer
        self.verify: bool | str = trust_store or True
        self.timeout = timeout
        self.keys: dict[str, Ed25519PublicKey] = {}
        self.fetches = 0
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> Ed25519PublicKey | None:
        key = self.keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self.keys.get(kid)
            if key is not None:
                return key
            if self._fetched_at is not None and time.monotonic() - self._fetched_at < JWKS_MIN_REFETCH_S:
                return None
            self._fetch()
            return self.keys.get(kid)

    def _fetch(self) -> None:
        import requests

        self._fetched_at = time.monotonic()
        self.fetches += 1
        url = self.issuer + JWKS_PATH
        try:
            with requests.Session() as s:
                s.trust_env = False
                resp = s.get(url, timeout=self.timeout, verify=self.verify)
            resp.raise_for_status()
            keys = _keys_of(resp.json())
        except (requests.RequestException, ValueError) as e:
            log.warning("could not fetch the JWKS of the auth service %s: %s", self.issuer, type(e).__name__)
            raise ServiceUnavailableError(
                f"This server could not fetch the verification keys of its auth service {self.issuer} "
                f"({type(e).__name__}); check that it is reachable from this server, and the trust store "
                "configured with 'larder server link'. Retry in a few seconds.",
                details={"issuer": self.issuer},
            ) from None
        self.keys = keys
        log.info("fetched the JWKS of the auth service %s: %d key(s)", self.issuer, len(keys))


@dataclass(frozen=True)
class Claims:
    """The checked claims of a token (never the token itself)."""

    issuer: str
    username: str
    scopes: frozenset[str]
    key_prefix: str
    jti: str
    expires: float


class TokenService:
    """The auth service of one server, and the verifier of the tokens it accepts.

    Args:
        session_factory: the metadata database's session factory.
        box (SecretBox): decrypts the stored signing keys.
        lifetime_s (int): the lifetime of minted tokens, seconds (default 900).
        leeway_s (int): the clock skew tolerated on ``exp`` and ``iat``, seconds (default 60).
        public_url (str): this server's public URL: the issuer of its tokens and the audience it
            accepts. Empty: set later with :meth:`set_public_url` (the URL the server listens on).
        linked_issuer (str): the auth service this server uses and trusts ("" for its own only).
        linked_trust_store (str | None): a PEM CA bundle to verify the linked auth service with.
        enabled (bool): whether this server's own auth service mints tokens (default True);
            tokens of the linked auth service are accepted either way.
    """

    def __init__(
        self,
        session_factory: Any,
        box: SecretBox,
        lifetime_s: int = 900,
        leeway_s: int = 60,
        public_url: str = "",
        linked_issuer: str = "",
        linked_trust_store: str | None = None,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._session_factory = session_factory
        self._box = box
        self.lifetime_s = lifetime_s
        self.leeway_s = leeway_s
        self._public_url = public_url.rstrip("/")
        self.linked_issuer = linked_issuer.rstrip("/")
        self._remote = _RemoteKeys(self.linked_issuer, linked_trust_store) if self.linked_issuer else None
        self._own: dict[str, Ed25519PublicKey] = {}
        self._own_loaded_at = 0.0
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._verified: dict[bytes, Claims] = {}
        self._lock = threading.Lock()
        with session_factory() as db:
            ensure_signing_key(db, box)

    def __repr__(self) -> str:
        return f"TokenService(issuer={self._public_url!r}, linked={self.linked_issuer!r})"

    # --- identity ------------------------------------------------------------------------------

    def set_public_url(self, url: str) -> None:
        """Set this server's public URL unless ``public_url`` was configured."""
        if not self._public_url:
            self._public_url = url.rstrip("/")

    @property
    def public_url(self) -> str:
        if not self._public_url:
            raise ServiceUnavailableError("The server does not know its public URL yet; retry in a moment.")
        return self._public_url

    @property
    def jwks_fetches(self) -> int:
        """How many times the linked auth service's JWKS was fetched (for tests and metrics)."""
        return self._remote.fetches if self._remote is not None else 0

    def discover(self) -> dict[str, Any]:
        """What ``GET /api/v1/discover`` says about authentication: without an auth service of its
        own nor a linked one, only the version (clients send the API key itself)."""
        if not self.enabled and not self.linked_issuer:
            return {"token_endpoint": None, "schemes": ["ApiKey"]}
        return {
            "issuer": self.public_url,
            "audience": self.public_url,
            # None: this server is its own auth service, at whatever URL the client reached it
            "auth_service": {
                "url": self.linked_issuer or None,
                "issuer": self.linked_issuer or self.public_url,
            },
            "token_endpoint": TOKEN_PATH if self.enabled else None,  # None: its own keys go as they are
            "jwks_uri": JWKS_PATH,
            "token_lifetime_seconds": self.lifetime_s,
            "schemes": ["ApiKey", "Bearer"],
        }

    # --- the auth service ----------------------------------------------------------------------

    def jwks(self, db: Session) -> dict[str, Any]:
        """The public keys that verify this server's tokens (active and not yet expired ones)."""
        now = _now()
        rows = db.scalars(select(SigningKey).order_by(SigningKey.id))
        keys = [json.loads(r.public_jwk) for r in rows if r.verify_until is None or r.verify_until > now]
        return {"keys": keys}

    def _signing_key(self, db: Session) -> tuple[str, Ed25519PrivateKey]:
        row = ensure_signing_key(db, self._box)
        key = self._private.get(row.kid)
        if key is None:
            loaded = serialization.load_pem_private_key(self._box.decrypt(row.private_key).encode(), None)
            assert isinstance(loaded, Ed25519PrivateKey)
            key = self._private[row.kid] = loaded
            self._own = {**self._own, row.kid: loaded.public_key()}  # verifies what it signs at once
        return row.kid, key

    def mint(
        self,
        db: Session,
        username: str,
        role: str,
        scopes: frozenset[str],
        key_prefix: str,
        audience: str | None,
    ) -> dict[str, Any]:
        """Sign a token for an authenticated API key's user.

        Args:
            audience (str | None): the public URL of the server the token is for (default: this one).

        Returns:
            dict: ``access_token``, ``token_type`` (``"Bearer"``), ``expires_in`` (seconds),
            ``expires_at`` (ISO 8601, UTC), ``issuer``, ``audience``, ``user``, ``scopes``.
        """
        if not self.enabled:
            raise NotFoundError(
                "This server runs no auth service (auth_service = false in its server.toml): send the "
                "API key itself ('Authorization: ApiKey <key>'), or exchange it at the auth service "
                "GET /api/v1/discover names.",
                details={"auth_service": False},
            )
        aud = (audience or self.public_url).rstrip("/")
        if not aud.startswith(("https://", "http://")) or len(aud) > 255:
            raise InvalidArgumentError(
                f"audience {aud[:80]!r} is not a server URL; pass the 'audience' that the server's "
                "GET /api/v1/discover reports.",
                details={"audience": aud[:80]},
            )
        kid, key = self._signing_key(db)
        now = int(time.time())
        claims = {
            "iss": self.public_url,
            "sub": username,
            "aud": aud,
            "scopes": sorted(scopes, key=apikeys.SCOPES.index),
            "role": role,
            "key": key_prefix,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + self.lifetime_s,
        }
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.lifetime_s,
            "expires_at": datetime.fromtimestamp(now + self.lifetime_s, timezone.utc).isoformat(),
            "issuer": self.public_url,
            "audience": aud,
            "user": username,
            "scopes": claims["scopes"],
        }

    # --- verification --------------------------------------------------------------------------

    def _own_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._own.get(kid)
        if key is None and time.monotonic() - self._own_loaded_at > 1.0:  # a key rotated in since
            with self._session_factory() as db:
                self._own = _keys_of(self.jwks(db))
            self._own_loaded_at = time.monotonic()
            key = self._own.get(kid)
        return key

    def verify(self, token: str) -> Claims:
        """Check a bearer token's signature, issuer, audience and lifetime.

        A token that verified once is remembered (by its SHA-256, until it expires) so that the
        signature is checked once per token, not per request.

        Raises:
            AuthenticationError: malformed, wrong algorithm, untrusted issuer, unknown key, bad
                signature, wrong audience, expired (``details["reason"]`` says which).
        """
        digest = hashlib.sha256(token.encode()).digest()
        hit = self._verified.get(digest)
        if hit is not None and time.time() < hit.expires + self.leeway_s:
            return hit
        claims = self._check(token)
        with self._lock:
            if len(self._verified) >= _VERIFIED_MAX:
                cutoff = time.time() - self.leeway_s
                self._verified = {k: v for k, v in self._verified.items() if v.expires > cutoff}
                if len(self._verified) >= _VERIFIED_MAX:
                    self._verified.clear()
            self._verified[digest] = claims
        return claims

    def _check(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthenticationError(
                "Malformed bearer token: not a JWT. Send 'Authorization: Bearer <token>' with a token "
                "from POST /api/v1/auth/token, or 'Authorization: ApiKey <key>'.",
                details={"reason": "token_malformed"},
            ) from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise AuthenticationError(
                f"Token algorithm {str(alg)[:20]!r} is not accepted; tokens must be signed with {ALGORITHM} "
                "(Ed25519) by a trusted auth service.",
                details={"reason": "token_algorithm", "algorithm": str(alg)[:20]},
            )
        issuer = str(unverified.get("iss") or "")[:255]
        kid = str(header.get("kid") or "")[:64]
        if issuer == self.public_url:
            key = self._own_key(kid)
        elif issuer and issuer == self.linked_issuer and self._remote is not None:
            key = self._remote.key(kid)
        else:
            trusted = [self.public_url] + ([self.linked_issuer] if self.linked_issuer else [])
            raise AuthenticationError(
                f"This server does not trust the token's issuer {issuer!r}; it accepts tokens of "
                f"{' and '.join(trusted)}. Connect with an API key of this server, or ask its admin to "
                "link it to that auth service (larder server link).",
                details={"reason": "untrusted_issuer", "issuer": issuer, "trusted": trusted},
            )
        if key is None:
            raise AuthenticationError(
                f"The token's signing key {kid!r} is not among the keys of {issuer}; the key was retired "
                "or the token forged. Get a new token.",
                details={"reason": "unknown_signing_key", "issuer": issuer, "kid": kid},
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.public_url,
                issuer=issuer,
                leeway=self.leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError(
                f"The access token expired at {_exp_text(unverified)} (issuer {issuer}); get a new one (the "
                "connector does so by itself).",
                details={"reason": "token_expired", "issuer": issuer},
            ) from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"The token is for {str(unverified.get('aud'))[:255]!r}, not for this server "
                f"({self.public_url}); get a token for this server's audience (GET /api/v1/discover).",
                details={"reason": "wrong_audience", "audience": self.public_url},
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError(
                f"The token's signature does not verify with key {kid!r} of {issuer}; it was forged or altered.",
                details={"reason": "bad_signature", "issuer": issuer},
            ) from None
        except jwt.PyJWTError as e:
            raise AuthenticationError(
                f"Invalid access token from {issuer}: {type(e).__name__}; get a new one.",
                details={"reason": "token_invalid", "issuer": issuer},
            ) from None
        sub, scopes = claims.get("sub"), claims.get("scopes")
        if not isinstance(sub, str) or not _USER_NAME.fullmatch(sub) or not isinstance(scopes, list):
            raise AuthenticationError(
                f"The token of {issuer} names no valid user or scopes.",
                details={"reason": "token_invalid", "issuer": issuer},
            )
        return Claims(
            issuer=issuer,
            username=sub,
            scopes=frozenset(s for s in scopes if s in apikeys.SCOPES),
            key_prefix=str(claims.get("key") or "") if issuer == self.public_url else "",
            jti=str(claims["jti"]),
            expires=float(claims["exp"]),
        )

    def user_of(self, db: Session, claims: Claims) -> User:
        """The local user a verified token acts as; a linked issuer's user seen for the first time
        is created as a federated user (role ``user``, no rights).

        Raises:
            AuthenticationError: when the user does not exist (own tokens), or exists as a user
                federated from another issuer.
        """
        user = db.scalar(select(User).where(User.username == claims.username))
        if claims.issuer == self.public_url:
            if user is None:
                raise AuthenticationError(
                    f"The token's user '{claims.username}' no longer exists on this server.",
                    details={"reason": "unknown_user", "user": claims.username},
                )
            return user
        if user is None:
            user = User(username=claims.username, email="", role="user", federated_issuer=claims.issuer)
            db.add(user)
            try:
                db.commit()
                log.info("created federated user %s from %s", claims.username, claims.issuer)
            except IntegrityError:  # another request created it meanwhile
                db.rollback()
                user = db.scalar(select(User).where(User.username == claims.username))
                assert user is not None
        if user.role == "admin":
            raise AuthenticationError(
                f"User '{claims.username}' is an admin of this server, and its admins sign in with this "
                f"server's own API keys, not with tokens of {claims.issuer}.",
                details={"reason": "local_admin", "user": claims.username},
            )
        if user.federated_issuer is not None and user.federated_issuer != claims.issuer:
            raise AuthenticationError(
                f"User '{claims.username}' of this server belongs to the auth service "
                f"{user.federated_issuer}, not to {claims.issuer}.",
                details={"reason": "federated_elsewhere", "user": claims.username},
            )
        return user


def _exp_text(claims: dict[str, Any]) -> str:
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        try:
            return datetime.fromtimestamp(exp, timezone.utc).isoformat()
        except (OverflowError, ValueError, OSError):
            pass
    return "(unknown)"
