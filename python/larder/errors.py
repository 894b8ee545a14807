"""One exception hierarchy, shared by the client and the server.

The server turns a :class:`LarderError` into an HTTP response with the status
:attr:`LarderError.http_status` and the JSON body
``{"error_code": ..., "message": ..., "details": {...}}``; the client maps that body back to
the same class with :func:`from_response_body`, so code on either side catches the same types.

Messages say what was wrong, with which value, and what to do. They never carry a secret
(API key, password, private key).

Example:
    >>> import larder
    >>> try:
    ...     raise larder.errors.NotFoundError("Project 'x' was not found.", details={"project": "x"})
    ... except larder.errors.LarderError as e:
    ...     (e.error_code, e.http_status)
    ('not_found', 404)
"""

from __future__ import annotations

from typing import Any, ClassVar


class LarderError(Exception):
    """The base of every error Larder raises on purpose.

    Args:
        message (str): a sentence for a person: what was wrong, with which value, what to do.
        details (dict | None): machine-readable context (names, values, limits). Never secrets.

    Attributes:
        error_code (str): a stable identifier, e.g. ``"not_found"``; the REST API's ``error_code``.
        http_status (int): the HTTP status the server answers with.
    """

    error_code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_body(self) -> dict[str, Any]:
        """The REST error body the server answers with.

        Returns:
            dict: ``{"error_code": ..., "message": ..., "details": {...}}``.

        Example:
            >>> NotFoundError("Project 'x' was not found.", {"project": "x"}).to_body()
            {'error_code': 'not_found', 'message': "Project 'x' was not found.", 'details': {'project': 'x'}}
        """
        return {"error_code": self.error_code, "message": self.message, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidArgumentError(LarderError, ValueError):
    """A value is malformed or out of range (HTTP 400): a bad name, an unknown field, bad JSON."""

    error_code = "invalid_argument"
    http_status = 400


class AuthenticationError(LarderError):
    """The API key is missing, unknown, expired or revoked (HTTP 401)."""

    error_code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(LarderError, PermissionError):
    """The caller is known but may not do this: a missing key scope or role (HTTP 403)."""

    error_code = "permission_denied"
    http_status = 403


class NotFoundError(LarderError, LookupError):
    """The resource does not exist, or the caller may not know that it does (HTTP 404)."""

    error_code = "not_found"
    http_status = 404


class AlreadyExistsError(LarderError):
    """A resource with this name already exists (HTTP 409)."""

    error_code = "already_exists"
    http_status = 409


class ConflictError(LarderError):
    """The request conflicts with the resource's current state (HTTP 409)."""

    error_code = "conflict"
    http_status = 409


class PayloadTooLargeError(LarderError):
    """The request body is larger than the server accepts (HTTP 413)."""

    error_code = "payload_too_large"
    http_status = 413


INTERNAL_ERROR_MESSAGE = "Internal server error; see the server log."
"""What a 500 says to the client (the cause goes to the server log only)."""


class ServerError(LarderError):
    """The server failed unexpectedly (HTTP 500). The server log has the cause."""

    error_code = "internal_error"
    http_status = 500


class ServiceUnavailableError(LarderError):
    """The server is not ready or overloaded (HTTP 503); retrying later may succeed."""

    error_code = "unavailable"
    http_status = 503


class DependencyFailedError(LarderError):
    """An object store (or its STS) that the platform depends on refused the request or could not
    be reached (HTTP 424): the store's configuration or availability, not the request, is at fault."""

    error_code = "dependency_failed"
    http_status = 424


class ConfigurationError(LarderError):
    """Client-side configuration is wrong or incomplete (never sent over the wire)."""

    error_code = "configuration_error"
    http_status = 400


class ConnectionFailedError(LarderError, ConnectionError):
    """The platform could not be reached, or TLS verification failed (client-side)."""

    error_code = "connection_failed"
    http_status = 503


class CommitNotRecordedError(LarderError):
    """A write reached the Delta table, but the platform did not confirm recording it (the server
    went away, or failed, after the data was committed; client-side).

    Nothing is lost: the platform registers commits it missed from the Delta log (and makes them
    visible online) on its own. ``details`` has ``delta_version`` and ``committed`` (True)."""

    error_code = "commit_not_recorded"
    http_status = 503


class ApiKeyNotFoundError(ConfigurationError):
    """No API key could be resolved from any configured source (client-side)."""

    error_code = "api_key_not_found"


class NaiveTimeWarning(UserWarning):
    """A time without a time zone (a naive ``datetime``, a date, a string without an offset, or a
    column of naive timestamps in an insert) was taken as UTC, as hsfs does.

    Silence it with ``warnings.filterwarnings("ignore", category=larder.errors.NaiveTimeWarning)``,
    or pass timezone-aware values.

    Example:
        >>> import warnings
        >>> warnings.filterwarnings("ignore", category=NaiveTimeWarning)
        >>> warnings.resetwarnings()
    """


class DuplicateKeysWarning(UserWarning):
    """An insert held several rows of one primary key (and event time, when the group has one):
    the last of them in the input's row order was kept and the others dropped, as hsfs's upsert
    keeps one row per key. The insert's result says how many (``duplicates_dropped``).

    Refuse such inserts instead with ``fg.insert(df, write_options={"duplicates": "error"})``, or
    silence the warning with ``warnings.filterwarnings("ignore", category=DuplicateKeysWarning)``.

    Example:
        >>> import warnings
        >>> warnings.filterwarnings("ignore", category=DuplicateKeysWarning)
        >>> warnings.resetwarnings()
    """


class VersionNotPinnedWarning(UserWarning):
    """A feature group, feature view or model was fetched by name alone while newer versions
    exist, and version 1 was taken (as hsfs and hsml do); pass ``version=`` to pin the one you mean.

    Example:
        >>> fs.get_feature_group("weather", version=2)  # pinned: no warning  # doctest: +SKIP
    """


_BY_CODE: dict[str, type[LarderError]] = {}
for _cls in (
    LarderError,
    InvalidArgumentError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    AlreadyExistsError,
    ConflictError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    DependencyFailedError,
    ServerError,
    ConfigurationError,
):
    _BY_CODE[_cls.error_code] = _cls

_BY_STATUS: dict[int, type[LarderError]] = {
    400: InvalidArgumentError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidArgumentError,
    409: ConflictError,
    413: PayloadTooLargeError,
    424: DependencyFailedError,
    422: InvalidArgumentError,
    503: ServiceUnavailableError,
}


def from_response_body(status: int, body: Any) -> LarderError:
    """Rebuild the exception a server answered with.

    Args:
        status (int): the HTTP status code.
        body (Any): the decoded JSON body, ideally ``{"error_code", "message", "details"}``.

    Returns:
        LarderError: an instance of the class named by ``error_code`` (or chosen by the status
        when the body is not a Larder error body).

    Example:
        >>> e = from_response_body(404, {"error_code": "not_found", "message": "No such project.", "details": {}})
        >>> type(e).__name__, e.message
        ('NotFoundError', 'No such project.')
        >>> type(from_response_body(502, "Bad Gateway")).__name__
        'ServerError'
    """
    if isinstance(body, dict) and isinstance(body.get("error_code"), str):
        cls = _BY_CODE.get(body["error_code"]) or _BY_STATUS.get(status, ServerError)
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
        return cls(str(body.get("message") or f"HTTP {status}"), details)
    cls = _BY_STATUS.get(status, ServerError)
    text = str(body)[:500] if body else ""
    return cls(f"The server answered HTTP {status}. {text}".strip(), {"status": status})
