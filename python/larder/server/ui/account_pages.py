"""Signing in and out, login links, the home page, API keys and sessions, and the admin page."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from larder.errors import AuthenticationError, InvalidArgumentError, LarderError, PermissionDeniedError
from larder.names import API_KEY_NAME_PATTERN
from larder.server.api.deps import Caller, get_db
from larder.server.security import apikeys as key_rules
from larder.server.services import apikeys, projects, storage, users
from larder.server.ui import sessions
from larder.server.ui.web import (
    CurrentUI,
    Form,
    FormLists,
    check_csrf,
    clear_session_cookie,
    render,
    router,
    safe_next,
    set_session_cookie,
)

__all__ = ["api_router", "router"]

DB = Annotated[Session, Depends(get_db)]
NextParam = Annotated[str | None, Query(max_length=512)]
MAX_KEY_CHARS = 200


# --- sign in, sign out -------------------------------------------------------------------------------


def _login_page(
    request: Request, next_path: str, message: str | None, error: str | None, status: int = 200
) -> HTMLResponse:
    """The sign-in form, with a fresh double-submit CSRF token (cookie + hidden field)."""
    token = sessions.new_token()
    response = render(
        request, "login.html", status, next_path=next_path, message=message, error=error, login_csrf=token
    )
    response.set_cookie(
        sessions.LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def login_form(
    request: Request,
    next: NextParam = None,  # noqa: A002 - the conventional parameter name
    reason: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return _login_page(request, safe_next(next), sessions.REASONS.get(reason or ""), None)


@router.post("/login")
def login(request: Request, db: DB, form: Form) -> Response:
    next_path = safe_next(form.get("next"))
    check_csrf(request, form.get("csrf_token"), request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or "")
    api_key = form.get("api_key", "")
    if not api_key.strip():
        return _login_page(request, next_path, None, "Paste an API key (it reads <prefix>.<secret>).", 400)
    if len(api_key) > MAX_KEY_CHARS:
        return _login_page(
            request, next_path, None, f"That is not an API key (over {MAX_KEY_CHARS} characters).", 400
        )
    try:
        signed = sessions.sign_in(db, api_key, request.headers.get("user-agent", ""))
    except AuthenticationError as e:  # the message never holds the key
        return _login_page(request, next_path, None, e.message, 401)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, signed)
    response.delete_cookie(
        sessions.LOGIN_CSRF_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


@router.get("/login/link")
def login_link(
    request: Request, db: DB, token: Annotated[str, Query(min_length=1, max_length=128)]
) -> Response:
    """Use a one-time login link. The page that answers continues to ``/`` by itself: a browser
    sends a SameSite=Strict cookie only on requests this site starts, not on a redirect that
    follows a link from elsewhere (a terminal, a mail)."""
    signed = sessions.redeem_link(db, token, request.headers.get("user-agent", ""))
    response = render(request, "link.html", 200)
    set_session_cookie(response, signed)
    return response


@router.post("/logout")
def logout(ui: CurrentUI, form: Form) -> Response:
    ui.check_csrf(form)
    sessions.end(ui.db, ui.session)
    response = RedirectResponse("/login?reason=signed_out", status_code=303)
    clear_session_cookie(response)
    return response


# --- home ----------------------------------------------------------------------------------------------


def attempt(ui: Any, fn: Any, *args: Any) -> Any:
    """``fn(db, principal, *args)``, or None with a note on the page when the key lacks a scope
    (the page still shows what the key may see)."""
    try:
        return fn(ui.db, ui.principal, *args)
    except PermissionDeniedError as e:
        ui.notes.append(e.message)
        return None


@router.get("/")
def home(ui: CurrentUI) -> Response:
    mine = attempt(ui, projects.list_mine)
    namespaces = attempt(ui, storage.list_namespaces)
    return ui.render("home.html", projects=mine, namespaces=namespaces)


# --- API keys and sessions ----------------------------------------------------------------------------


def _keys_page(ui: Any, status: int = 200, **extra: Any) -> HTMLResponse:
    keys = apikeys.list_keys(ui.db, ui.principal)
    return ui.render(
        "apikeys.html",
        status,
        keys=list(reversed(keys)),
        sessions=sessions.list_active(ui.db, ui.principal),
        grantable=[s for s in key_rules.SCOPES if s in ui.principal.scopes],
        **extra,
    )


_NAME = re.compile(API_KEY_NAME_PATTERN)


@router.get("/apikeys")
def keys_page(ui: CurrentUI, revoked: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    done = None
    if revoked is not None and _NAME.fullmatch(revoked):
        done = f"Revoked API key '{revoked}'; it no longer signs in or calls the API."
    return _keys_page(ui, done=done)


@router.post("/apikeys")
def create_key(ui: CurrentUI, form: FormLists) -> Response:
    flat = {k: v[-1] for k, v in form.items()}
    ui.check_csrf(flat)
    name = flat.get("name", "").strip()
    days_text = flat.get("expires_in_days", "").strip()
    try:
        days = None
        if days_text:
            if not days_text.isdigit() or len(days_text) > 5:
                raise InvalidArgumentError(
                    f"Expiry must be a whole number of days between 1 and {apikeys.MAX_EXPIRY_DAYS}, "
                    f"got {days_text[:20]!r}; leave it empty for a key that does not expire."
                )
            days = int(days_text)
        row, plaintext = apikeys.create(ui.db, ui.principal, name, form.get("scopes", []), days)
    except LarderError as e:
        ui.db.rollback()
        return _keys_page(ui, e.http_status, error=e.message, form_name=name[:64])
    # the one response that holds the new key: not cached (Cache-Control: no-store on every page)
    return _keys_page(ui, 201, created=row, plaintext=plaintext)


@router.post("/apikeys/{name}/revoke")
def revoke_key(ui: CurrentUI, form: Form, name: Annotated[str, Path(max_length=64)]) -> Response:
    ui.check_csrf(form)
    row = apikeys.revoke(ui.db, ui.principal, name)
    if row.prefix == ui.principal.key_prefix:  # this session's own key: the session ends with it
        response = RedirectResponse("/login?reason=key_revoked", status_code=303)
        clear_session_cookie(response)
        return response
    return RedirectResponse(f"/apikeys?revoked={row.name}", status_code=303)


@router.post("/sessions/{session_id}/revoke")
def revoke_session(
    ui: CurrentUI, form: Form, session_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    ui.check_csrf(form)
    row = sessions.revoke(ui.db, ui.principal, session_id)
    if row.id == ui.session.id:
        response = RedirectResponse("/login?reason=signed_out", status_code=303)
        clear_session_cookie(response)
        return response
    return RedirectResponse("/apikeys", status_code=303)


# --- admin --------------------------------------------------------------------------------------------


def _admin_page(ui: Any, status: int = 200, **extra: Any) -> HTMLResponse:
    return ui.render(
        "admin.html",
        status,
        users=users.list_all(ui.db, ui.principal),
        stores=storage.list_stores(ui.db, ui.principal),
        roles=("user", "privileged", "admin"),
        **extra,
    )


@router.get("/admin")
def admin(ui: CurrentUI) -> Response:
    return _admin_page(ui)


@router.post("/admin/users")
def create_user(ui: CurrentUI, form: Form) -> Response:
    ui.check_csrf(form)
    username = form.get("username", "").strip()
    ui.principal.require_admin()
    try:
        users.create(
            ui.db, ui.principal, username, form.get("email", "").strip()[:254], form.get("role", "user")
        )
    except LarderError as e:  # a bad name or role, or a taken name: the form again, with the reason
        ui.db.rollback()
        return _admin_page(ui, e.http_status, error=e.message)
    return _admin_page(
        ui,
        201,
        done=f"Created user '{username}'. Create an API key for them with: larder apikey create --user {username}",
    )


# --- the REST route that makes login links ----------------------------------------------------------------

api_router = APIRouter(tags=["ui"])


class LoginLinkOut(BaseModel):
    url: str
    expires_at: datetime


@api_router.post(
    "/ui/login-links",
    status_code=201,
    summary="A one-time link that signs a browser in to the web UI as the calling key (valid 120 s)",
)
def create_login_link(request: Request, db: DB, caller: Caller) -> LoginLinkOut:
    token, expires = sessions.create_link(db, caller)
    base = str(request.base_url).rstrip("/")
    return LoginLinkOut(url=f"{base}/login/link?token={token}", expires_at=expires)
