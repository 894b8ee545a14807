"""What every UI page shares: templates, the signed-in caller, forms, CSRF, error pages, headers.

Pages are plain FastAPI routes on :data:`router` whose route class (:class:`UIRoute`) turns what
the services raise into HTML pages with the same status the REST API answers (404 for what the
caller may not see, 403 for a missing scope or role, 400 for bad input), adds the security
headers, and reports the server time in a ``Server-Timing`` header.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from larder import __version__
from larder.errors import (
    INTERNAL_ERROR_MESSAGE,
    AuthenticationError,
    InvalidArgumentError,
    LarderError,
    PermissionDeniedError,
)
from larder.server.api.deps import get_db
from larder.server.security.authz import Principal
from larder.server.ui import sessions
from larder.server.ui.models import UISession

log = logging.getLogger("larder.server.ui")

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR_FILES = ("htmx.min.js", "chart.umd.min.js")
MAX_FORM_FIELDS = 100
MAX_NEXT_CHARS = 512

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes Chromium send "Origin: null" on forms
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assets_built() -> bool:
    """True when ``make ui-assets`` copied the vendored JavaScript into ``static/vendor``."""
    return all((STATIC / "vendor" / f).is_file() for f in VENDOR_FILES)


# --- templates and their filters ---------------------------------------------------------------------


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def _pretty(v: Any) -> str:
    return json.dumps(v, indent=2, default=str, ensure_ascii=False)


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(when=_when, size=_size, num=_num, pretty=_pretty, fromjson=json.loads)
templates.env.globals.update(version=__version__, quote=quote, urlencode=urlencode)


# --- the signed-in caller ------------------------------------------------------------------------------


class SignInRequired(Exception):
    """No usable session: the page redirects to the sign-in page, with a reason code of
    :data:`sessions.REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason if reason in sessions.REASONS else "required"


class CSRFError(PermissionDeniedError):
    """A state-changing request without a valid CSRF token, or from another site."""


@dataclass
class UI:
    """One page request: the database session, the caller (a :class:`Principal` rebuilt from the
    UI session) and rendering."""

    request: Request
    db: Session
    principal: Principal
    session: UISession
    notes: list[str] = field(default_factory=list)

    @property
    def box(self) -> Any:
        return self.request.app.state.secret_box

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render ``template`` with the page context (caller, CSRF token, navigation)."""
        return render(self.request, template, status, ui=self, **context)

    def check_csrf(self, form: dict[str, str]) -> None:
        check_csrf(
            self.request,
            form.get("csrf_token") or self.request.headers.get("x-csrf-token"),
            self.session.csrf_token,
        )

    @property
    def partial(self) -> bool:
        """True for htmx requests, which get the page's fragment only."""
        return self.request.headers.get("hx-request") == "true"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("ui", None)
    context.setdefault("assets_built", assets_built())
    return templates.TemplateResponse(request, template, context, status_code=status)


def current_ui(request: Request, db: Annotated[Session, Depends(get_db)]) -> UI:
    """The UI context of a signed-in request; raises :class:`SignInRequired` otherwise."""
    try:
        row, principal = sessions.resolve(db, request.cookies.get(sessions.COOKIE))
    except AuthenticationError as e:
        raise SignInRequired(str(e.details.get("reason", "required"))) from None
    request.state.user = principal.username  # the access log's user
    ui = UI(request, db, principal, row)
    request.state.ui = ui
    return ui


CurrentUI = Annotated[UI, Depends(current_ui)]


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (the last value of a repeated field
    wins; :func:`read_form_lists` keeps them all). The body is already bounded by the server's
    body limit.

    Raises:
        InvalidArgumentError: on another content type or more than :data:`MAX_FORM_FIELDS` fields.
    """
    return {k: v[-1] for k, v in (await read_form_lists(request)).items()}


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    body = (await request.body()).decode("utf-8", errors="replace")
    if not body:
        return {}  # a form without fields: the CSRF check refuses it (403), not the parser
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidArgumentError(
            f"Send the form as application/x-www-form-urlencoded, not {ctype or 'no content type'!r}.",
            details={"content_type": ctype},
        )
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise InvalidArgumentError(f"A form has at most {MAX_FORM_FIELDS} fields.") from None
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


Form = Annotated[dict[str, str], Depends(read_form)]
FormLists = Annotated[dict[str, list[str]], Depends(read_form_lists)]


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def check_csrf(request: Request, given: str | None, expected: str) -> None:
    """Refuse a state-changing request that another site could have made: the browser's Fetch
    Metadata (``Sec-Fetch-Site``) and ``Origin`` must name this site when sent, and the request
    must carry the expected token (from a form field or the ``X-CSRF-Token`` header).

    Raises:
        CSRFError: naming which check failed.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise CSRFError(
            f"Refused a form sent from another site (Sec-Fetch-Site: {site[:20]}); use the forms of this site.",
            details={"check": "sec-fetch-site"},
        )
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        raise CSRFError(
            f"Refused a form sent from origin {origin[:100]!r}, not {own_origin(request)!r}.",
            details={"check": "origin"},
        )
    if not sessions.tokens_match(given, expected):
        raise CSRFError(
            "The form's CSRF token is missing or stale (the page may be older than your session); "
            "reload the page and submit it again.",
            details={"check": "token"},
        )


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in (anything else becomes ``/``)."""
    if not value or len(value) > MAX_NEXT_CHARS or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 32 for c in value):
        return "/"
    return value


def set_session_cookie(response: Response, signed: sessions.Signed) -> None:
    max_age = int((signed.session.expires_at - datetime.now(timezone.utc)).total_seconds())
    response.set_cookie(
        sessions.COOKIE,
        signed.token,
        max_age=max(max_age, 0),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path="/", secure=True, httponly=True, samesite="strict")


# --- error pages and the route class ---------------------------------------------------------------------

TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    500: "Internal error",
    503: "Unavailable",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    ui = getattr(request.state, "ui", None)
    return render(
        request, "error.html", status, ui=ui, code=status, title=TITLES.get(status, "Error"), message=message
    )


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("path", "query", "body"))
        value = err.get("input")
        shown = f" (got {str(value)[:60]!r})" if isinstance(value, str | int | float) else ""
        problems.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    return "Invalid request: " + "; ".join(problems) + "."


class UIRoute(APIRoute):
    """An HTML page: errors become error pages, a missing session a redirect to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            start = time.perf_counter()
            try:
                response = await handler(request)
            except SignInRequired as e:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":
                    target = "/"
                query = urlencode({"next": safe_next(target), "reason": e.reason})
                response = RedirectResponse(f"/login?{query}", status_code=303)
                if request.headers.get("hx-request") == "true":  # htmx: a full-page redirect
                    response.headers["HX-Redirect"] = f"/login?{query}"
            except LarderError as e:
                response = error_page(request, e.http_status, e.message)
            except RequestValidationError as e:
                response = error_page(request, 400, _validation_message(e))
            except StarletteHTTPException as e:
                response = error_page(request, e.status_code, str(e.detail))
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                response = error_page(request, 500, INTERNAL_ERROR_MESSAGE)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.1f}"
            return response

        return page


router = APIRouter(route_class=UIRoute, include_in_schema=False, default_response_class=HTMLResponse)
