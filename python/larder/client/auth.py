"""The auth service a connection gets its access tokens from (Hoss's ``hoss.auth.AuthService``).

A Larder server runs an auth service that exchanges an API key for a short-lived access token (a
signed JWT, 15 minutes by default) that works on that server and on every server linked to it. A
:class:`~larder.connection.Connection` asks its server (``GET /api/v1/discover``) which auth
service it uses, exchanges the API key there, and sends ``Authorization: Bearer <token>``; its
``conn.auth`` is the :class:`AuthService`. Pass it to a connection to another server with
``larder.connect(url, auth_instance=conn.auth)`` to reuse one key on servers that do not know it.

Example:
    >>> import larder
    >>> onprem = larder.connect("https://larder.onprem.example:8181/fraud")  # doctest: +SKIP
    >>> cloud = larder.connect("https://larder.cloud.example:8181/fraud",
    ...                        auth_instance=onprem.auth)  # doctest: +SKIP
    >>> onprem.auth  # doctest: +SKIP
    AuthService(url='https://larder.onprem.example:8181', user='alice', expires_at='2026-12-04T18:15:00+00:00')
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from larder.errors import ConfigurationError

log = logging.getLogger("larder.client")

__all__ = ["AuthService"]


@dataclass
class _Token:
    value: str
    audience: str
    issued: float  # time.monotonic() when it was received
    lifetime: float  # seconds
    expires_at: datetime

    @property
    def refresh_at(self) -> float:
        return self.issued + self.lifetime / 2

    @property
    def good_until(self) -> float:
        return self.issued + self.lifetime

    def __repr__(self) -> str:  # never the token
        return f"_Token(audience={self.audience!r}, expires_at={self.expires_at.isoformat()!r})"


class AuthService:
    """An auth service and the API key to exchange there: it hands out valid access tokens.

    Tokens are kept per audience (the server a token is for) and exchanged again at half their
    lifetime, so a caller never holds one that is about to expire; :meth:`token` is safe to call
    from several threads (one exchanges, the others keep the still-valid token meanwhile). The
    API key stays in memory only; neither it nor a token appears in a repr, a log or a message.

    Usually made by a connection (``conn.auth``), not by hand.

    Args:
        url (str): the auth service's base URL, e.g. ``"https://larder.onprem.example:8181"``.
        api_key (str): the API key to exchange (``<prefix>.<secret>``).
        verify (bool | str): True (certifi's public CAs) or a PEM CA bundle path (default True).
        hostname_verification (bool): verify that the certificate names the host (default True).
        timeout (float): seconds to wait for each exchange (default 30).

    Raises:
        larder.errors.ConfigurationError: when ``url`` is not an https URL or ``api_key`` is empty.

    Example:
        >>> from larder.client.auth import AuthService
        >>> auth = AuthService("https://larder.example.com:8181", key, verify="ca.pem")  # doctest: +SKIP
        >>> headers = {"Authorization": f"Bearer {auth.token()}"}  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        verify: bool | str = True,
        hostname_verification: bool = True,
        timeout: float = 30.0,
    ) -> None:
        from larder.client.rest import RestClient

        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"AuthService url {url!r} is not an https:// URL.")
        if not api_key:
            raise ConfigurationError("AuthService needs an API key to exchange; none was given.")
        self._url = url.rstrip("/")
        self._client = RestClient(
            self._url, api_key, verify=verify, hostname_verification=hostname_verification, timeout=timeout
        )
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._user: str | None = None
        self._issuer: str | None = None
        self._latest: _Token | None = None
        self.exchanges = 0
        """How many times the API key was exchanged for a token (each is one ``POST /auth/token``)."""

    def __repr__(self) -> str:
        expires = self.expires_at.isoformat() if self.expires_at is not None else None
        return f"AuthService(url={self._url!r}, user={self._user!r}, expires_at={expires!r})"

    @property
    def url(self) -> str:
        """The auth service's base URL."""
        return self._url

    @property
    def user(self) -> str | None:
        """The user the API key belongs to (None before the first exchange)."""
        return self._user

    @property
    def issuer(self) -> str | None:
        """The issuer its tokens name, its public URL (None before the first exchange)."""
        return self._issuer

    @property
    def expires_at(self) -> datetime | None:
        """When the newest token expires (UTC; None before the first exchange)."""
        return self._latest.expires_at if self._latest is not None else None

    def token(self, audience: str | None = None) -> str:
        """A valid access token for ``audience``, exchanging the API key when there is none or the
        current one is past half its lifetime.

        Args:
            audience (str | None): the public URL of the server the token is for, as its
                ``GET /api/v1/discover`` says; default None: the auth service's own server.

        Returns:
            str: the token, for ``Authorization: Bearer <token>``. Do not log it.

        Raises:
            larder.errors.AuthenticationError: when the auth service refuses the key (unknown,
                revoked or expired).
            larder.errors.ConnectionFailedError: when the auth service cannot be reached.

        Example:
            >>> conn.auth.token()  # doctest: +SKIP
            'eyJhbGciOiJFZERTQSIs...'
        """
        aud = (audience or "").rstrip("/")
        tok = self._tokens.get(aud)
        now = time.monotonic()
        if tok is not None and now < tok.refresh_at:
            return tok.value
        if tok is not None and now < tok.good_until - 1.0:
            if not self._lock.acquire(blocking=False):  # another thread is exchanging: keep this one
                return tok.value
        else:
            self._lock.acquire()
        try:
            tok = self._tokens.get(aud)
            if tok is not None and time.monotonic() < tok.refresh_at:
                return tok.value
            try:
                tok = self._exchange(aud)
            except Exception:
                old = self._tokens.get(aud)
                if old is not None and time.monotonic() < old.good_until - 1.0:
                    log.warning(
                        "could not refresh the access token from %s; the current one is still valid",
                        self._url,
                    )
                    return old.value
                raise
            return tok.value
        finally:
            self._lock.release()

    def invalidate(self, token: str, audience: str | None = None) -> None:
        """Forget ``token`` (a server refused it as expired): the next :meth:`token` exchanges anew."""
        aud = (audience or "").rstrip("/")
        with self._lock:
            held = self._tokens.get(aud)
            if held is not None and held.value == token:
                del self._tokens[aud]

    def _exchange(self, audience: str) -> _Token:
        issued = time.monotonic()
        body: dict[str, Any] = {"audience": audience} if audience else {}
        got = self._client.post("/auth/token", body)
        self.exchanges += 1
        lifetime = float(got["expires_in"])
        tok = _Token(
            value=str(got["access_token"]),
            audience=audience,
            issued=issued,
            lifetime=lifetime,
            expires_at=datetime.fromisoformat(str(got["expires_at"])),
        )
        self._tokens[audience] = tok
        self._latest = tok
        self._user = str(got.get("user") or "") or None
        self._issuer = str(got.get("issuer") or "") or None
        log.debug("got an access token from %s for %s (%.0f s)", self._url, audience or "itself", lifetime)
        return tok

    def close(self) -> None:
        """Close the HTTPS session to the auth service (it reopens on the next exchange)."""
        self._client.close()
