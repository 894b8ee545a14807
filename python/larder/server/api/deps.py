"""Shared FastAPI dependencies: the database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from larder.server.security.authz import Principal, authenticate

_api_key_header = APIKeyHeader(
    name="Authorization",
    scheme_name="ApiKey",
    description="'ApiKey <key>' (an API key) or 'Bearer <token>' (an access token of a trusted auth service)",
    auto_error=False,
)


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as db:
        yield db


def get_principal(
    request: Request,
    db: Annotated[Session, Depends(get_db)],
    authorization: Annotated[str | None, Depends(_api_key_header)] = None,
) -> Principal:
    principal = authenticate(db, authorization, getattr(request.app.state, "tokens", None))
    request.state.user = principal.username
    return principal


DB = Annotated[Session, Depends(get_db)]
Caller = Annotated[Principal, Depends(get_principal)]


def challenge(authorization: str | None) -> str:
    """The ``WWW-Authenticate`` value of a 401: ``Bearer error="invalid_token"`` when a token was
    refused (RFC 6750), else ``ApiKey``."""
    if authorization and authorization[:7].lower() == "bearer ":
        return 'Bearer error="invalid_token"'
    return "ApiKey"
