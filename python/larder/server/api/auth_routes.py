"""The auth service: ``POST /auth/token`` (API key -> access token), ``GET /auth/jwks`` and
``GET /discover`` (both public)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from larder import __version__
from larder.errors import AuthenticationError
from larder.server.api.deps import DB, _api_key_header
from larder.server.api.schemas import TokenOut, TokenRequest
from larder.server.db.models import ApiKey
from larder.server.security.authz import authenticate
from larder.server.security.tokens import TokenService

API_VERSION = "v1"
router = APIRouter()


def _tokens(request: Request) -> TokenService:
    tokens: TokenService = request.app.state.tokens
    return tokens


@router.post(
    "/auth/token",
    tags=["auth"],
    summary="Exchange an API key for a short-lived access token",
    description=(
        "Send 'Authorization: ApiKey <key>'. The token (a JWT signed with EdDSA) carries the key's "
        "scopes and lasts token_lifetime_seconds (default 900); use it as 'Authorization: Bearer "
        "<token>' on this server and on every server linked to this auth service. 'audience' is the "
        "public URL of the server the token is for (GET /api/v1/discover tells it); default this one."
    ),
)
def exchange(
    request: Request,
    db: DB,
    authorization: Annotated[str | None, Depends(_api_key_header)] = None,
    body: TokenRequest | None = None,
) -> TokenOut:
    if authorization and authorization.partition(" ")[0].lower() == "bearer":
        raise AuthenticationError(
            "An access token cannot be exchanged for another; send 'Authorization: ApiKey <key>'.",
            details={"reason": "key_required"},
        )
    principal = authenticate(db, authorization)  # API keys only: revoked or expired keys get a 401
    request.state.user = principal.username
    minted = _tokens(request).mint(
        db,
        principal.username,
        principal.role,
        principal.scopes,
        principal.key_prefix,
        body.audience if body is not None else None,
    )
    return TokenOut(**minted)


@router.get(
    "/auth/keys/{prefix}",
    tags=["auth"],
    summary="Whether an API key prefix is one of this server's keys (public)",
    description=(
        "Lets a client of a linked server decide, from the key's public prefix alone, whether to "
        "exchange the key at this server or at the auth service it names: the secret never goes "
        "to a server that does not hold the key."
    ),
)
def key_known(
    request: Request, db: DB, prefix: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "known": db.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None,
    }


@router.get("/auth/jwks", tags=["auth"], summary="The keys that verify this server's tokens (public)")
def jwks(request: Request, db: DB) -> JSONResponse:
    return JSONResponse(_tokens(request).jwks(db), headers={"Cache-Control": "public, max-age=60"})


@router.get(
    "/discover",
    tags=["platform"],
    summary="Version, and the auth service this server uses (public)",
    description=(
        "auth_service.url is the auth service to exchange API keys at (null: this server); "
        "audience is what to ask it for."
    ),
)
def discover(request: Request) -> dict[str, Any]:
    return {"version": __version__, "api_version": API_VERSION, **_tokens(request).discover()}
