"""The REST session: one ``requests.Session`` with retries, TLS verification and error mapping.

Errors come back as :mod:`larder.errors` exceptions; TLS failures explain both fixes.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from larder import __version__
from larder.errors import AuthenticationError, ConnectionFailedError, from_response_body

if TYPE_CHECKING:
    from larder.client.auth import AuthService

log = logging.getLogger("larder.client")

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class _ApiKeyAuth(requests.auth.AuthBase):
    """Adds ``Authorization: ApiKey <key>``; its repr never shows the key."""

    def __init__(self, key: str) -> None:
        self._key = key

    def header(self) -> str:
        return f"ApiKey {self._key}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self.header()
        return r

    def __repr__(self) -> str:
        return "ApiKeyAuth(***)"


class _TokenAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <token>`` with a token of ``auth`` for ``audience``."""

    def __init__(self, auth: AuthService, audience: str) -> None:
        self.auth = auth
        self.audience = audience

    def header(self) -> str:
        return f"Bearer {self.auth.token(self.audience)}"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self.header()
        return r

    def refused(self, header: str) -> None:
        """The server refused the token in ``header`` as expired: forget it."""
        self.auth.invalidate(header.partition(" ")[2], self.audience)

    def __repr__(self) -> str:
        return f"TokenAuth({self.auth!r})"


def _expired_token(e: AuthenticationError) -> bool:
    return e.details.get("reason") == "token_expired"


class RestClient:
    """A REST client for one platform.

    Args:
        base_url (str): e.g. ``"https://larder.example.com:8181"`` (``/api/v1`` is appended).
        api_key (str | None): the API key; None for public routes only.
        verify (bool | str): True (certifi's public CAs), a PEM CA bundle path, or False (no verification).
        timeout (float): seconds to wait for connect and for each read (default 30).
        retries (int): retries on connection errors and 502/503/504 for idempotent calls (default 3).

    Raises:
        larder.errors.LarderError: the error the server answered with, mapped back to its class.
        larder.errors.ConnectionFailedError: when the platform cannot be reached or TLS fails.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 3,
        hostname_verification: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_url = self.base_url + "/api/v1"
        self.timeout = timeout
        self.session = requests.Session()
        # Proxies from the environment are resolved once, here; with trust_env left on, requests
        # re-reads the environment and ~/.netrc on every call (about 1 ms each: too slow for serving).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.trust_env = False
        # Passed on every request: a Session's own ``verify`` loses to REQUESTS_CA_BUNDLE in the
        # environment (requests merges the environment first), which would silently ignore our CA.
        self.verify = verify
        self.hostname_verification = hostname_verification
        self._fast_pool: Any = None
        self._local = threading.local()  # the Authorization header of this thread's last refused call
        self.session.headers["User-Agent"] = f"larder-python/{__version__}"
        if api_key:
            self.session.auth = _ApiKeyAuth(api_key)
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,  # TLS verification failures are final: retrying cannot fix a certificate
            backoff_factor=0.2,
            status_forcelist=(502, 503, 504),
            allowed_methods=IDEMPOTENT,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter: HTTPAdapter
        if hostname_verification or verify is False:
            adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        else:
            adapter = _NoHostnameAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r})"

    def use_tokens(self, auth: AuthService, audience: str) -> None:
        """Authenticate with access tokens of ``auth`` for ``audience`` (instead of an API key); a
        call refused for an expired token gets a new one and is sent once more."""
        self.session.auth = _TokenAuth(auth, audience)

    def use_api_key(self, api_key: str) -> None:
        """Authenticate with ``Authorization: ApiKey <key>``."""
        self.session.auth = _ApiKeyAuth(api_key)

    @property
    def uses_tokens(self) -> bool:
        """True when calls carry access tokens rather than the API key."""
        return isinstance(self.session.auth, _TokenAuth)

    def close(self) -> None:
        self.session.close()
        if self._fast_pool is not None:
            self._fast_pool.close()
            self._fast_pool = None

    def _pool(self) -> Any:
        """A bare urllib3 keep-alive pool for latency-critical calls (online serving), with the same
        TLS settings as the session."""
        if self._fast_pool is None:
            import urllib3

            u = urllib3.util.parse_url(self.api_url)
            common: dict[str, Any] = {
                "host": u.host,
                "port": u.port,
                "maxsize": 8,
                "block": False,
                "retries": False,
                "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
            }
            if u.scheme == "https":
                if self.verify is False:
                    tls: dict[str, Any] = {"cert_reqs": "CERT_NONE", "assert_hostname": False}
                else:
                    from requests.utils import DEFAULT_CA_BUNDLE_PATH

                    ca = self.verify if isinstance(self.verify, str) else DEFAULT_CA_BUNDLE_PATH
                    tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": ca}
                    if not self.hostname_verification:
                        tls["assert_hostname"] = False
                self._fast_pool = urllib3.HTTPSConnectionPool(**common, **tls)
            else:
                self._fast_pool = urllib3.HTTPConnectionPool(**common)
        return self._fast_pool

    def post_fast(self, path: str, body: Any) -> Any:
        """POST JSON on the fast path (no requests machinery); falls back to :meth:`post` (with its
        retries and error explanations) when the connection fails."""
        import urllib3

        auth = self.session.auth
        headers = {"Content-Type": "application/json", "User-Agent": self.session.headers["User-Agent"]}
        if isinstance(auth, (_ApiKeyAuth, _TokenAuth)):
            headers["Authorization"] = auth.header()
        try:
            resp = self._pool().urlopen(
                "POST",
                self.api_url + path,
                body=_dumps(body),
                headers=headers,
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError:
            return self.post(path, body)
        if resp.status >= 400:
            try:
                err: Any = _loads(resp.data)
            except ValueError:
                err = resp.data.decode(errors="replace")
            error = from_response_body(resp.status, err)
            if (
                isinstance(error, AuthenticationError)
                and isinstance(auth, _TokenAuth)
                and _expired_token(error)
            ):
                auth.refused(str(headers["Authorization"]))
                return self.post(path, body)  # with a new token (post retries once more if needed)
            raise error
        return _loads(resp.data)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v1{path}`` and return the decoded JSON (None for 204).

        With access tokens, a 401 for an expired token (a laptop that slept, a clock that jumped)
        gets a new token and the request is sent once more: the server refuses a request before
        doing anything when its token is refused, so sending it again is safe.
        """
        try:
            return self._request(method, path, **kwargs)
        except AuthenticationError as e:
            auth = self.session.auth
            sent = getattr(self._local, "sent", None)
            if not isinstance(auth, _TokenAuth) or not _expired_token(e) or sent is None:
                raise
            log.info("the access token expired before its time here; getting a new one")
            auth.refused(sent)
            return self._request(method, path, **kwargs)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self.api_url + path
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.verify)
        self._local.sent = None
        try:
            resp = self.session.request(method, url, **kwargs)
        except requests.exceptions.SSLError as e:
            raise ConnectionFailedError(
                f"TLS verification failed for {self.base_url}: {_reason(e)}. If the platform uses its own "
                "CA, trust it with trust_store_path='/path/to/ca.pem' (CLI: --trust-store; a platform's CA "
                "is at <home>/tls/ca.pem); if the certificate does not name this host, pass "
                "hostname_verification=False.",
                details={"url": self.base_url},
            ) from None
        except requests.exceptions.ConnectionError as e:
            raise ConnectionFailedError(
                f"Could not reach the Larder platform at {self.base_url}: {_reason(e)}. "
                "Check the host and port, and that the server is running.",
                details={"url": self.base_url},
            ) from None
        except requests.exceptions.Timeout:
            raise ConnectionFailedError(
                f"The Larder platform at {self.base_url} did not answer within {self.timeout} s.",
                details={"url": self.base_url, "timeout": self.timeout},
            ) from None
        if resp.status_code >= 400:
            self._local.sent = resp.request.headers.get("Authorization")
            try:
                body: Any = resp.json()
            except ValueError:
                body = resp.text
            raise from_response_body(resp.status_code, body)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


try:  # orjson when installed (the server extra has it): 3-5x faster on large feature vectors
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, default=str)

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover - the bare client
    import json

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, default=str).encode()

    def _loads(data: bytes) -> Any:
        return json.loads(data)


def _reason(e: Exception) -> str:
    """The innermost reason of a requests/urllib3 error, without the long wrapper text."""
    inner: BaseException = e
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    text = str(reason if reason is not None else inner)
    return text[:300]


class _NoHostnameAdapter(HTTPAdapter):
    """Verifies the certificate chain but not that it names the host."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_hostname"] = False
        super().init_poolmanager(*args, **kwargs)
