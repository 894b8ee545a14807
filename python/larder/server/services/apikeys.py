"""API keys: create (the secret is returned once), list, revoke.

A key can only mint keys whose scopes it holds itself, and only platform admins hold the ``admin``
scope; an admin key may create, list and revoke keys of other users.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from larder.names import check_name
from larder.server.db.models import ApiKey, User
from larder.server.security import apikeys, authz
from larder.server.security.authz import Principal
from larder.server.services import users

MAX_EXPIRY_DAYS = 3650


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in apikeys.SCOPES]
    if unknown or not scopes:
        raise InvalidArgumentError(
            f"Invalid scope(s) {unknown or scopes}; use one or more of {', '.join(apikeys.SCOPES)}.",
            details={"scopes": scopes, "allowed": list(apikeys.SCOPES)},
        )
    return sorted(set(scopes), key=apikeys.SCOPES.index)


def create_for_user(
    db: Session, user: User, name: str, scopes: list[str], expires_in_days: int | None = None
) -> tuple[ApiKey, str]:
    """Create a key for ``user`` without an authorization check; returns (row, plaintext)."""
    check_name("api key", name)
    scopes = check_scopes(scopes)
    if "admin" in scopes and user.role != "admin":
        raise PermissionDeniedError(
            f"User '{user.username}' is not a platform admin and cannot hold the 'admin' scope.",
            details={"user": user.username},
        )
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            raise InvalidArgumentError(
                f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}, got {expires_in_days}.",
                details={"expires_in_days": expires_in_days},
            )
        expires_at = datetime.now(timezone.utc) + timedelta(days=expires_in_days)
    if db.scalar(select(ApiKey.id).where(ApiKey.user_id == user.id, ApiKey.name == name)) is not None:
        raise AlreadyExistsError(
            f"User '{user.username}' already has an API key named '{name}'; pick another name or revoke it.",
            details={"user": user.username, "name": name},
        )
    new = apikeys.generate()
    row = ApiKey(
        user_id=user.id,
        name=name,
        prefix=new.prefix,
        salt=new.salt,
        secret_hash=new.secret_hash,
        scopes=",".join(scopes),
        expires_at=expires_at,
    )
    db.add(row)
    db.flush()
    return row, new.plaintext


def _target_user(db: Session, principal: Principal, username: str | None) -> User:
    if username is None or username == principal.username:
        return users.get_by_name(db, principal.username)
    principal.require_admin()
    return users.get_by_name(db, username)


def create(
    db: Session,
    principal: Principal,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = None,
    username: str | None = None,
) -> tuple[ApiKey, str]:
    user = _target_user(db, principal, username)
    missing = [s for s in check_scopes(scopes) if s not in principal.scopes]
    if missing:
        raise PermissionDeniedError(
            f"This API key cannot grant scope(s) it does not hold itself: {', '.join(missing)}.",
            details={"missing_scopes": missing},
        )
    row, plaintext = create_for_user(db, user, name, scopes, expires_in_days)
    db.commit()
    return row, plaintext


def list_keys(db: Session, principal: Principal, username: str | None = None) -> list[ApiKey]:
    user = _target_user(db, principal, username)
    return list(db.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at)))


def revoke(db: Session, principal: Principal, name: str, username: str | None = None) -> ApiKey:
    """Revoke a key by name (or by its public prefix)."""
    user = _target_user(db, principal, username)
    row = db.scalar(
        select(ApiKey).where(ApiKey.user_id == user.id, (ApiKey.name == name) | (ApiKey.prefix == name))
    )
    if row is None:
        raise NotFoundError(
            f"User '{user.username}' has no API key named '{name}'.",
            details={"user": user.username, "name": name},
        )
    if row.revoked_at is None:
        row.revoked_at = datetime.now(timezone.utc)
        db.commit()
        authz.changed()
    return row
