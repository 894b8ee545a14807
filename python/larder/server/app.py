"""The FastAPI application: routers, error bodies, request limits and the request log."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from larder import __version__
from larder.errors import INTERNAL_ERROR_MESSAGE, LarderError, PayloadTooLargeError, ServerError
from larder.server import ui
from larder.server.api import (
    auth_routes,
    featurestore_routes,
    registry_routes,
    routes,
    storage_routes,
    sync_routes,
    transformation_routes,
)
from larder.server.api.asgi import Disconnected, read_body, replay
from larder.server.api.deps import Caller, challenge
from larder.server.api.params import PATTERN_HELP
from larder.server.api.schemas import ErrorBody
from larder.server.db.session import make_engine, make_session_factory, upgrade
from larder.server.janitor import Janitor
from larder.server.online import open_store
from larder.server.security.ca import CertificateAuthority
from larder.server.security.secretbox import SecretBox
from larder.server.security.tokens import TokenService
from larder.server.services.featurestore import ServingCache
from larder.server.services.fg_writes import Reconciler
from larder.server.settings import ServerSettings
from larder.server.sync.service import service_base as sync_service_base
from larder.server.sync.worker import make_sync_worker

log = logging.getLogger("larder.server")
access_log = logging.getLogger("larder.server.access")

API_PREFIX = "/api/v1"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Invalid argument (bad name, unknown field, malformed JSON)",
        401: "Missing, unknown, expired or revoked API key, or a refused access token",
        403: "The key lacks a scope or the user a role",
        404: "Not found (or not visible to the caller)",
        409: "Already exists or conflicts with the current state",
        413: "Request body too large",
        422: "Invalid argument",
        424: "An object store the platform depends on refused or could not be reached",
    }.items()
}


# any JSON value whose numbers are finite (JSON can write 1e999, which is no float): what tag
# values, input examples, statistics and training dataset metadata may hold
FINITE_JSON_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value; numbers are finite.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "string"},
        {"type": "number", "minimum": -1.7976931348623157e308, "maximum": 1.7976931348623157e308},
        {"type": "array", "items": {"$ref": "#/components/schemas/FiniteJson"}},
        {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/FiniteJson"}},
    ],
}


# pydantic writes a bound on a validator-wrapped type (JsonInt in an Optional or a tuple) under
# its own name; JSON Schema's names are these
_BOUND_NAMES = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _finite_json_refs(node: Any) -> Any:
    """The OpenAPI document with each field marked ``x-finite-json`` a reference to FiniteJson,
    and bounds under their JSON Schema names."""
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            node = {_BOUND_NAMES.get(k, k): v for k, v in node.items()}
        if len(node.get("patternProperties") or {}) == 1:
            # pydantic says a dict's key rule with patternProperties, which lets other keys through
            # unchecked: the rule is propertyNames', the value schema additionalProperties'
            node = dict(node)
            ((pattern, values),) = node.pop("patternProperties").items()
            node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
            node["additionalProperties"] = values
        kind = node.pop("x-finite-json", None)
        if kind is not None:
            kept = {k: v for k, v in node.items() if k in ("title", "description", "default")}
            ref = {"$ref": "#/components/schemas/FiniteJson"}
            shape = ref if kind == "any" else {"type": "object", "additionalProperties": ref}
            nullable = any(t.get("type") == "null" for t in node.get("anyOf", []) if isinstance(t, dict))
            return {"anyOf": [shape, {"type": "null"}] if nullable else [shape], **kept}
        return {k: _finite_json_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_finite_json_refs(v) for v in node]
    return node


def _error_response(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(
            f"Request body exceeds the limit of {self.max_bytes} bytes.", details={"limit": self.max_bytes}
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await _error_response(413, too_large.to_body())(scope, receive, send)
                    return
        # Read the body here, under the limit, and replay it: an exception raised from inside
        # receive() while FastAPI parses a body would come out as a 400 "error parsing the body".
        try:
            body = await read_body(receive, self.max_bytes)
        except Disconnected:
            return
        if body is None:
            await _error_response(413, too_large.to_body())(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)


class CatchAllMiddleware:
    """An unexpected exception becomes a 500 with the error body (its cause goes to the log only),
    and goes no further: the connection stays open for the client's next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # the answer began: nothing sensible can follow; let the server end it
                raise
            await _error_response(500, ServerError(INTERNAL_ERROR_MESSAGE).to_body())(scope, receive, send)


def _route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/projects/{project}``), else the raw path."""
    raw: str = scope.get("path", "")
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return raw
    if raw.startswith(API_PREFIX) and not template.startswith(API_PREFIX):
        template = API_PREFIX + template  # FastAPI versions differ in what the included route holds
    return str(template)


class AccessLogMiddleware:
    """One log line per request: method, route, status, milliseconds, user. Never headers or bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = _route_template(scope)
            user = scope.get("state", {}).get("user", "-")
            ms = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms user=%s", scope.get("method"), path, status, ms, user)


def create_app(settings: ServerSettings) -> FastAPI:
    """Build the application for a platform home (migrates the database to the newest schema)."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    paths = settings.paths
    app = FastAPI(
        title="Larder",
        version=__version__,
        description=(
            "The Larder platform REST API. Authenticate with 'Authorization: ApiKey <key>', or with "
            "'Authorization: Bearer <token>' and an access token from POST /api/v1/auth/token."
        ),
        openapi_url=None,  # served below, behind authentication like every route but /version
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.ca = CertificateAuthority.load(paths.ca_cert, paths.ca_key)
    app.state.secret_box = SecretBox(paths.secret_key)
    app.state.tokens = TokenService(
        app.state.session_factory,
        app.state.secret_box,
        lifetime_s=settings.token_lifetime_seconds,
        leeway_s=settings.token_leeway_seconds,
        public_url=settings.public_url,
        linked_issuer=settings.auth_service_url,
        linked_trust_store=settings.auth_service_trust_store or None,
        enabled=settings.auth_service,
    )
    app.include_router(routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(auth_routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(storage_routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(registry_routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(featurestore_routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(sync_routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(transformation_routes.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.state.online_store = open_store(settings.online_store, str(paths.online_db), settings.redis_url)
    app.state.serving_cache = ServingCache(app.state.session_factory, app.state.tokens)
    app.state.reconciler = Reconciler(
        app.state.session_factory,
        app.state.secret_box,
        app.state.online_store,
        settings.reconcile_interval_seconds,
    )
    app.state.reconciler.start()
    app.state.janitor = Janitor(
        app.state.session_factory,
        app.state.secret_box,
        settings.janitor_interval_seconds,
        settings.stale_upload_seconds,
    )
    app.state.janitor.start()
    app.state.sync_worker = make_sync_worker(
        settings,
        app.state.session_factory,
        app.state.secret_box,
        lambda: sync_service_base(app.state.tokens.public_url, "public_url"),
    )
    if settings.sync_worker:
        app.state.sync_worker.start()

    plain_openapi = app.openapi

    def openapi_with_finite_json() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {})["FiniteJson"] = FINITE_JSON_SCHEMA
            app.openapi_schema = _finite_json_refs(schema)
        return app.openapi_schema

    app.openapi = openapi_with_finite_json  # type: ignore[method-assign]

    @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
    def openapi_spec(caller: Caller) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.exception_handler(LarderError)
    async def _larder_error(request: Request, exc: LarderError) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": challenge(request.headers.get("authorization"))}
            if exc.http_status == 401
            else None
        )
        return _error_response(exc.http_status, exc.to_body(), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            problem = err.get("msg", "")
            help_text = PATTERN_HELP.get(str((err.get("ctx") or {}).get("pattern", "")))
            if err.get("type") == "string_pattern_mismatch" and help_text is not None:
                problem = f"{str(err.get('input'))[:80]!r} is not {help_text}"
            problems.append({"field": loc, "problem": problem, "type": err.get("type", "")})
        first = problems[0] if problems else {"field": "", "problem": "invalid request"}
        message = f"Invalid request: {first['field']}: {first['problem']}".rstrip(": ")
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem(s))"
        return _error_response(
            400, {"error_code": "invalid_argument", "message": message, "details": {"errors": problems}}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = (
            f"No route {request.method} {request.url.path}; see {API_PREFIX}/openapi.json."
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of every route at this path, not the first route's
            methods = {
                m
                for r in app.routes
                if isinstance(r, APIRoute) and r.path_regex.match(request.url.path)
                for m in r.methods or ()
            }
            headers["Allow"] = ", ".join(sorted(methods))
        return _error_response(
            exc.status_code, {"error_code": code, "message": message, "details": {}}, headers
        )

    # unexpected errors: answered by CatchAllMiddleware (innermost), which keeps the connection
    # alive; an Exception handler here would run in Starlette's outermost middleware, which
    # re-raises after answering, and uvicorn then closes the connection (the client's next
    # request on it failed too)
    app.add_middleware(CatchAllMiddleware)

    ui.mount(app, API_PREFIX, ERROR_RESPONSES)  # the web UI at /: last, its 404 page takes what is left

    # online serving answers before routing (see VectorsFastPath), inside the body limit and the log
    app.add_middleware(featurestore_routes.VectorsFastPath, state=app.state)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)  # outermost: logs 413s too
    return app
