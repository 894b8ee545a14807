"""The web UI, served by ``larder server`` at ``/`` beside the REST API (``/api/v1``).

Server-rendered Jinja2 pages with htmx for partial updates and Chart.js for charts (both from the
npm registry, copied into ``static/vendor`` by ``make ui-assets``; never fetched at run time).
A browser signs in with an API key, which is exchanged for a server-side session
(:mod:`larder.server.ui.sessions`); every page rebuilds the caller's
:class:`~larder.server.security.authz.Principal` from that session and calls the same service
functions as the REST routes, so it shows exactly what the REST API would show that key.

Modules: ``web`` (templates, the route class, CSRF, error pages), ``sessions`` and ``models``
(sign-in, login links), ``account_pages`` (sign-in, home, API keys, admin), ``project_pages``,
``featurestore_pages``,
``registry_pages``, ``storage_pages``, and ``reads`` (the bounded reads of data the pages show:
a preview of rows, a page of object keys, Parquet footers, an artifact file).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.convertors import Convertor, register_url_convertor
from starlette.staticfiles import StaticFiles


class _PagePath(Convertor[str]):
    """Any path outside the REST API (``/api/...`` keeps its own JSON 404 and 405 answers)."""

    regex = r"(?!api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def mount(app: FastAPI, api_prefix: str, responses: dict[int | str, dict[str, Any]]) -> None:
    """Add the UI to ``app``: static files at ``/static``, the pages, the login-link REST route
    under ``api_prefix`` (documented with the API's error ``responses``), and an HTML 404 page for
    any other path outside the API. Call it after every other router is included (the 404 page
    matches whatever is left)."""
    from larder.server.ui import (
        account_pages,
        featurestore_pages,
        project_pages,
        registry_pages,
        storage_pages,
        web,
    )

    register_url_convertor("uipage", _PagePath())
    app.include_router(account_pages.api_router, prefix=api_prefix, responses=responses)
    app.mount("/static", StaticFiles(directory=str(web.STATIC)), name="ui-static")
    for module in (account_pages, project_pages, featurestore_pages, registry_pages, storage_pages):
        assert module.router is web.router  # one router; the modules add their pages to it
    if not any(getattr(r, "path", "") == "/{path:uipage}" for r in web.router.routes):
        web.router.add_api_route("/{path:uipage}", _not_found, methods=["GET", "POST"])
    app.include_router(web.router)


def _not_found(path: str) -> None:
    from larder.errors import NotFoundError

    shown = re.sub(r"[^\x20-\x7e]", "?", path)[:200]
    raise NotFoundError(f"There is no page /{shown}; start from the home page.")
