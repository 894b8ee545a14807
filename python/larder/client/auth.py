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
from typing import TYPE_CHECKING, Any

from larder.errors import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from larder.client.rest import RestClient

log = logging.getLogger("larder.client")

__all__ = ["AuthService", "authenticate", "discover"]


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
        """Forget ``token`` (a server refused it as expired): the next :meth:`token` exchanges anew.

        Args:
            token (str): the refused token; a newer one held meanwhile is kept.
            audience (str | None): the audience it was for (default None: the auth service's own).

        Example:
            >>> auth.invalidate(token, "https://larder.cloud.example:8181")  # doctest: +SKIP
        """
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
        """Close the HTTPS session to the auth service (it reopens on the next exchange).

        Example:
            >>> auth.close()  # doctest: +SKIP
        """
        self._client.close()


def discover(client: RestClient) -> dict[str, Any]:
    """What a server says of itself: ``GET /api/v1/discover`` (version, audience, auth service), or
    ``GET /api/v1/version`` on a server that predates the auth service (no ``audience`` then).

    Args:
        client (RestClient): a client of the server (no credentials needed: the routes are public).

    Returns:
        dict: the answer.

    Example:
        >>> discover(RestClient("https://larder.example.com:8181"))["auth_service"]  # doctest: +SKIP
        {'url': None, 'issuer': 'https://larder.example.com:8181'}
    """
    try:
        info = client.get("/discover")
    except NotFoundError:
        info = client.get("/version")
    return info if isinstance(info, dict) else {}


def authenticate(
    client: RestClient,
    info: dict[str, Any],
    key: str | None,
    auth_instance: AuthService | None = None,
    verify: bool | str = True,
    hostname_verification: bool = True,
) -> AuthService | None:
    """Make ``client`` authenticate the best way the server offers, and return the auth service.

    - ``auth_instance`` given: its tokens for the server's audience (the key is not used);
    - else, on a server with an auth service: ``key`` is exchanged at the auth service the server
      names (``info["auth_service"]["url"]``, None: the server itself), verified with ``verify``.
      When that is another server, the server is first asked (by the key's public prefix alone,
      ``GET /auth/keys/{prefix}``) whether the key is one of its own (its admins'): such a key is
      exchanged at the server itself and never sent to the auth service;
    - else (an older server): the key itself, ``Authorization: ApiKey <key>``.

    Args:
        client (RestClient): the server's client, without credentials yet.
        info (dict): what :func:`discover` returned.
        key (str | None): the API key (None only with ``auth_instance``).
        auth_instance (AuthService | None): another connection's auth service.
        verify (bool | str): how to verify the auth service's TLS (the server's trust store).
        hostname_verification (bool): verify that its certificate names its host.

    Returns:
        AuthService | None: the auth service whose tokens the client sends (None: the key itself).

    Raises:
        larder.errors.AuthenticationError: when the auth service refuses the key, or the server
            refuses ``auth_instance``'s tokens (an issuer it does not trust: the message names it).
        larder.errors.ConfigurationError: ``auth_instance`` with a server that has no auth service.

    Example:
        >>> auth = authenticate(client, discover(client), key, verify="ca.pem")  # doctest: +SKIP
    """
    audience = info.get("audience") if isinstance(info.get("audience"), str) else None
    if auth_instance is not None:
        if audience is None:
            raise ConfigurationError(
                f"The server at {client.base_url} has no auth service (a Larder older than tokens), so "
                "auth_instance cannot be used there; connect with an API key of that server "
                "(api_key_value=... or api_key_file=...).",
                details={"url": client.base_url},
            )
        auth_instance.token(audience)
        client.use_tokens(
            auth_instance, audience
        )  # an issuer the server does not trust: its first call says so
        return auth_instance
    if key is None:
        raise ConfigurationError("No API key and no auth_instance: nothing to authenticate with.")
    if audience is None:
        client.use_api_key(key)
        return None
    service = info.get("auth_service")
    named = service.get("url") if isinstance(service, dict) else None
    auth_url = str(named or client.base_url).rstrip("/")
    if auth_url != client.base_url and _own_key(client, key):
        # one of this server's own keys (its admins'): exchanged here, never sent to the auth service
        log.info("the API key is one of %s's own; exchanging it there", client.base_url)
        auth_url = client.base_url
        if info.get("token_endpoint", True) is None:  # the server runs no auth service of its own
            client.use_api_key(key)
            return None
    auth = AuthService(auth_url, key, verify=verify, hostname_verification=hostname_verification)
    try:
        auth.token(audience)
    except BaseException:
        auth.close()
        raise
    client.use_tokens(auth, audience)
    return auth


def _own_key(client: RestClient, key: str) -> bool:
    """Whether the server holds this key, asked by its public prefix alone (the secret stays here)."""
    prefix = key.partition(".")[0]
    if len(prefix) != 16 or any(c not in "0123456789abcdef" for c in prefix):
        return False
    try:
        return bool(client.get(f"/auth/keys/{prefix}").get("known"))
    except NotFoundError:
        return False
