"""Users: create (admins), list (admins), look up."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from larder.names import check_name
from larder.server.db.models import User
from larder.server.security.authz import PLATFORM_ROLES, Principal


def check_role(role: str) -> str:
    if role not in PLATFORM_ROLES:
        raise InvalidArgumentError(
            f"Unknown platform role {role!r}; use one of {', '.join(PLATFORM_ROLES)}.",
            details={"role": role, "allowed": list(PLATFORM_ROLES)},
        )
    return role


def create_user(db: Session, username: str, email: str = "", role: str = "user") -> User:
    """Create a user without an authorization check (used by ``server init``)."""
    check_name("user", username)
    check_role(role)
    if db.scalar(select(User).where(User.username == username)) is not None:
        raise AlreadyExistsError(f"User '{username}' already exists.", details={"user": username})
    user = User(username=username, email=email, role=role)
    db.add(user)
    db.flush()
    return user


def create(db: Session, principal: Principal, username: str, email: str, role: str) -> User:
    principal.require_admin()
    user = create_user(db, username, email, role)
    db.commit()
    return user


def list_all(db: Session, principal: Principal) -> list[User]:
    principal.require_admin()
    return list(db.scalars(select(User).order_by(User.username)))


def get_by_name(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"User '{username}' was not found.", details={"user": username})
    return user


def get(db: Session, principal: Principal, username: str) -> User:
    if username != principal.username:
        principal.require_admin()
    return get_by_name(db, username)
