"""UI sessions: an API key exchanged for a server-side session, one-time login links, CSRF tokens.

- Sign-in: the key is checked exactly as the REST API checks it (:func:`authenticate`), then a
  session row is stored with the SHA-256 of a random 256-bit token; the browser gets the token in
  a ``__Host-`` cookie (HttpOnly, Secure, SameSite=Strict, Path=/). The key itself is never stored
  again, put in a cookie, a page or a URL.
- Every request rebuilds the caller's :class:`Principal` from the session: the key's user, role and
  scopes as they are *now*. The session ends when it expires (:data:`SESSION_LIFETIME` after
  sign-in, :data:`SESSION_IDLE` without a request, never after the key's own expiry), when it is
  revoked (logout, or from the API keys page), or when its key is revoked or expires.
- Login links (``larder ui``, ``conn.ui_url()``): a key holder asks ``POST /api/v1/ui/login-links``
  for a link; its random token is good once, for :data:`LINK_LIFETIME`.
- CSRF: each session has a random token that every state-changing request must send back (a form
  field or the ``X-CSRF-Token`` header); the sign-in form, which has no session yet, uses a
  double-submit cookie. See ``routes.check_csrf`` for the Origin / Fetch-Metadata checks on top.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from larder.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from larder.server.db.models import ApiKey
from larder.server.security.authz import Principal, authenticate
from larder.server.ui.models import UILoginLink, UISession

SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE = timedelta(hours=1)
LINK_LIFETIME = timedelta(seconds=120)
SEEN_EVERY = timedelta(minutes=1)
"""``last_seen_at`` is written at most this often (not a database write per page)."""
COOKIE = "__Host-larder_session"
LOGIN_CSRF_COOKIE = "__Host-larder_login"
MAX_TOKEN_CHARS = 128
MAX_USER_AGENT = 200
REASONS = {
    "required": "Sign in to continue.",
    "unknown": "Your session is unknown (the server may have been reset); sign in again.",
    "ended": "You signed out, or this session was revoked; sign in again.",
    "expired": "Your session expired; sign in again.",
    "key_revoked": "The API key you signed in with was revoked; sign in with another key.",
    "key_expired": "The API key you signed in with expired; sign in with another key.",
    "signed_out": "You signed out.",
}
"""Why the sign-in page is shown (``/login?reason=...``): fixed texts, never text from the URL."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A random 256-bit token, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented CSRF token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def principal_of(key: ApiKey) -> Principal:
    """The caller a session acts as: its key's user, role and scopes (as ``authenticate`` builds it)."""
    return Principal(
        user_id=key.user_id,
        username=key.user.username,
        role=key.user.role,
        scopes=frozenset(key.scope_list),
        key_prefix=key.prefix,
    )


def _check_key(key: ApiKey, now: datetime) -> None:
    """The same refusals as ``authenticate`` for a key that was revoked or expired since."""
    if key.revoked_at is not None:
        raise AuthenticationError(
            f"API key '{key.name}' ({key.prefix}) was revoked; sign in again with another key.",
            details={"key_prefix": key.prefix, "reason": "key_revoked"},
        )
    if key.expires_at is not None and key.expires_at <= now:
        raise AuthenticationError(
            f"API key '{key.name}' ({key.prefix}) expired at {key.expires_at.isoformat()}; sign in with "
            "another key.",
            details={"key_prefix": key.prefix, "reason": "key_expired"},
        )


@dataclass(frozen=True)
class Signed:
    """A new session and the token for its cookie (shown to the browser once, never stored)."""

    session: UISession
    token: str

    def __repr__(self) -> str:  # never show the token
        return f"Signed(session={self.session.id})"


def _open(db: Session, key: ApiKey, user_agent: str) -> Signed:
    now = _now()
    expires = now + SESSION_LIFETIME
    if key.expires_at is not None:
        expires = min(expires, key.expires_at)
    token = new_token()
    row = UISession(
        token_hash=_hash(token),
        api_key_id=key.id,
        csrf_token=new_token(),
        user_agent=user_agent[:MAX_USER_AGENT],
        created_at=now,
        last_seen_at=now,
        expires_at=expires,
    )
    db.add(row)
    db.commit()
    return Signed(row, token)


def sign_in(db: Session, api_key: str, user_agent: str = "") -> Signed:
    """Exchange an API key for a session.

    Raises:
        AuthenticationError: when the key is malformed, unknown, revoked or expired (the message
            never contains the key).
    """
    principal = authenticate(db, f"ApiKey {api_key.strip()}")
    key = db.scalar(select(ApiKey).where(ApiKey.prefix == principal.key_prefix))
    assert key is not None
    return _open(db, key, user_agent)


def create_link(db: Session, principal: Principal) -> tuple[str, datetime]:
    """A one-time login link token for the caller's own key (or the key its access token was
    exchanged for); returns ``(token, expires_at)``.

    Raises:
        PermissionDeniedError: for a linked auth service's token: the web UI signs in with a key
            of this server.
    """
    key = (
        db.scalar(select(ApiKey).where(ApiKey.prefix == principal.key_prefix))
        if principal.key_prefix
        else None
    )
    if key is None:
        raise PermissionDeniedError(
            f"A web UI link signs in with an API key of this server; user '{principal.username}' is "
            f"signed in with a token of the auth service {principal.issuer}. Sign in with a key of "
            "this server instead.",
            details={"user": principal.username, "issuer": principal.issuer},
        )
    token = new_token()
    expires = _now() + LINK_LIFETIME
    db.add(UILoginLink(token_hash=_hash(token), api_key_id=key.id, expires_at=expires))
    db.commit()
    return token, expires


def redeem_link(db: Session, token: str, user_agent: str = "") -> Signed:
    """Use a login link (once) and open a session for its key.

    Raises:
        AuthenticationError: when the token is unknown, used, expired, or its key no longer works.
    """
    unusable = AuthenticationError(
        "This sign-in link is unknown, was already used or has expired (links work once, for "
        f"{int(LINK_LIFETIME.total_seconds())} s); run 'larder ui' again or sign in with an API key."
    )
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise unusable
    now = _now()
    digest = _hash(token)
    # one atomic UPDATE: of two concurrent uses of the same link, only one gets the row
    used = db.execute(
        update(UILoginLink)
        .where(UILoginLink.token_hash == digest, UILoginLink.used_at.is_(None), UILoginLink.expires_at > now)
        .values(used_at=now)
    )
    db.commit()
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise unusable
    link = db.scalar(select(UILoginLink).where(UILoginLink.token_hash == digest))
    assert link is not None
    key = db.get(ApiKey, link.api_key_id)
    if key is None:
        raise unusable
    _check_key(key, now)
    return _open(db, key, user_agent)


def resolve(db: Session, token: str | None) -> tuple[UISession, Principal]:
    """The session a cookie names, and the principal it acts as.

    Raises:
        AuthenticationError: when there is no such session, or it (or its key) ended; the
            message says why, for the sign-in page.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthenticationError("Sign in to continue.", details={"reason": "required"})
    row = db.scalar(select(UISession).where(UISession.token_hash == _hash(token)))
    if row is None:
        raise AuthenticationError(
            "Your session is unknown (the server may have been reset); sign in again.",
            details={"reason": "unknown"},
        )
    now = _now()
    if row.revoked_at is not None:
        raise AuthenticationError(
            "You signed out, or this session was revoked; sign in again.", details={"reason": "ended"}
        )
    if row.expires_at <= now or row.last_seen_at + SESSION_IDLE <= now:
        raise AuthenticationError("Your session expired; sign in again.", details={"reason": "expired"})
    _check_key(row.api_key, now)
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
        db.commit()
    return row, principal_of(row.api_key)


def end(db: Session, row: UISession) -> None:
    """Sign out: revoke the session."""
    if row.revoked_at is None:
        row.revoked_at = _now()
        db.commit()


def list_active(db: Session, principal: Principal) -> list[UISession]:
    """The caller's sessions that still work (any of the user's keys), newest first."""
    now = _now()
    rows = db.scalars(
        select(UISession)
        .join(ApiKey, ApiKey.id == UISession.api_key_id)
        .where(
            ApiKey.user_id == principal.user_id,
            ApiKey.revoked_at.is_(None),
            UISession.revoked_at.is_(None),
            UISession.expires_at > now,
        )
        .order_by(UISession.created_at.desc())
        .limit(200)
    )
    return [r for r in rows if r.last_seen_at + SESSION_IDLE > now]


def revoke(db: Session, principal: Principal, session_id: int) -> UISession:
    """Revoke one of the caller's own sessions.

    Raises:
        NotFoundError: when the caller has no session with that id.
    """
    row = db.get(UISession, session_id)
    if row is None or row.api_key.user_id != principal.user_id:
        raise NotFoundError(
            f"You have no session {session_id}; reload the API keys page to see your sessions.",
            details={"session": session_id},
        )
    end(db, row)
    return row
