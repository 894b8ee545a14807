"""Server settings: where a platform home keeps its files, and what ``server.toml`` configures.

A platform home ``DIR`` holds::

    DIR/server.toml        settings (database URL, certificate lifetimes, limits)
    DIR/larder.db          the SQLite metadata database (default)
    DIR/tls/ca.pem         the CA certificate (public; clients trust it)
    DIR/tls/ca.key         the CA private key (0600)
    DIR/tls/server.pem     the server certificate (SANs: localhost, 127.0.0.1, --hostname ...)
    DIR/tls/server.key     its private key (0600)
    DIR/tls/secrets.key    the key that encrypts stored object-store secrets (0600)
    DIR/data/              the built-in local object store (namespace ``default`` is DIR/data/default)
    DIR/admin_api_key      the first admin API key (0600)
    DIR/server.url         the URL the running server listens on (written once it answers)
    DIR/server.pid         the running server's process id
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from larder.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class HomePaths:
    """The fixed paths inside a platform home."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "server.toml"

    @property
    def sqlite(self) -> Path:
        return self.root / "larder.db"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def ca_cert(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.tls / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.tls / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.tls / "server.key"

    @property
    def admin_api_key(self) -> Path:
        return self.root / "admin_api_key"

    @property
    def server_url(self) -> Path:
        return self.root / "server.url"

    @property
    def secret_key(self) -> Path:
        return self.tls / "secrets.key"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def online_db(self) -> Path:
        return self.root / "online.db"

    @property
    def server_pid(self) -> Path:
        return self.root / "server.pid"


@dataclass
class ServerSettings:
    """Settings read from ``DIR/server.toml`` (all optional).

    Attributes:
        home (Path): the platform home.
        database_url (str): SQLAlchemy URL; default ``sqlite:///DIR/larder.db``.
        client_cert_validity_days (int): lifetime of issued client certificates, days (default 30).
        max_body_bytes (int): largest accepted request body, bytes (default 1 MiB).
        hostnames (list[str]): extra names in the server certificate.
        vended_credentials_seconds (int): lifetime of vended object-store credentials, seconds
            (default 3600). For S3, STS is asked for at least 900 s (its minimum); a smaller value
            shortens the lifetime the client is told, so it renews sooner.
        online_store (str): ``"sqlite"`` (default, ``DIR/online.db``) or ``"redis"``.
        redis_url (str | None): ``redis://host:port/db`` when ``online_store = "redis"``.
        write_lease_seconds (float): how long a writer's lease on a feature group lasts unless it
            renews it, seconds (default 30): a writer that dies blocks others for at most this long,
            and its commit, if it made one, is registered from the Delta log soon after.
        reconcile_interval_seconds (float): how often the server looks for expired write leases
            and registers the Delta commits their writers did not record, seconds (default 5).
        janitor_interval_seconds (float): how often the server removes what killed writers left
            in its object stores, seconds (default 3600; see ``larder.server.janitor``).
        stale_upload_seconds (float): a local upload's hidden part file not written to for this
            long is removed, seconds (default 3600).
        public_url (str): the URL clients and linked servers reach this server by, e.g.
            ``"https://larder.onprem.example:8181"``: the issuer of its access tokens and the audience
            it accepts. Default ``""``: the URL it listens on (``server.url``). Set it when the server
            is linked, or sits behind a proxy or a name other than its listening address.
        token_lifetime_seconds (int): lifetime of the access tokens its auth service mints, seconds
            (default 900). Revoking an API key stops new tokens at once; minted ones live this long.
        token_leeway_seconds (int): clock skew tolerated when checking a token's ``exp`` and
            ``iat``, seconds (default 60).
        auth_service_url (str): the auth service this server uses and trusts besides itself (its
            ``public_url``), as written by ``larder server link``; ``""`` (default): its own only.
        auth_service_trust_store (str): a PEM CA bundle to verify ``auth_service_url`` with
            (default ``""``: the public CAs).
        auth_service (bool): whether the server runs its own auth service, minting tokens for its
            keys (default true). Off, clients send its keys as they are; a linked auth service's
            tokens are still accepted.
        sync_worker (bool): whether the server runs the sync worker in its own process (default
            true). Off, run ``larder sync worker --home DIR`` beside it (one worker per database).
        sync_threads (int): objects the sync worker sends at the same time (default 8).
        sync_retry_max_seconds (float): the longest wait between two attempts to send a change,
            seconds (default 30): backoff doubles from 0.5 s up to this, with jitter.
        sync_reconcile_interval_seconds (float): how often each syncing dataset is compared with its
            target's copy (listings, sizes, etags) to repair what bypassed Larder, seconds (default 300).
        sync_poll_seconds (float): how often a worker looks at the outbox when nothing woke it,
            seconds (default 1; the in-process worker is woken by each recorded change).
    """

    home: Path
    database_url: str = ""
    client_cert_validity_days: int = 30
    max_body_bytes: int = 1024 * 1024
    hostnames: list[str] = field(default_factory=list)
    vended_credentials_seconds: int = 3600
    online_store: str = "sqlite"
    redis_url: str | None = None
    write_lease_seconds: float = 30.0
    reconcile_interval_seconds: float = 5.0
    janitor_interval_seconds: float = 3600.0
    stale_upload_seconds: float = 3600.0
    public_url: str = ""
    token_lifetime_seconds: int = 900
    token_leeway_seconds: int = 60
    auth_service_url: str = ""
    auth_service_trust_store: str = ""
    auth_service: bool = True
    sync_worker: bool = True
    sync_threads: int = 8
    sync_retry_max_seconds: float = 30.0
    sync_reconcile_interval_seconds: float = 300.0
    sync_poll_seconds: float = 1.0

    @property
    def paths(self) -> HomePaths:
        return HomePaths(self.home)

    @classmethod
    def load(cls, home: str | os.PathLike[str], database_url: str | None = None) -> ServerSettings:
        """Read a home's settings.

        Args:
            home: the platform home created by ``larder server init``.
            database_url: overrides the configured database URL when given.

        Raises:
            ConfigurationError: when the home was not initialised or ``server.toml`` is invalid.
        """
        root = Path(home).expanduser().resolve()
        paths = HomePaths(root)
        if not paths.config.is_file():
            raise ConfigurationError(
                f"{root} is not a Larder platform home (no server.toml). "
                f"Create one with: larder server init --home {root}",
                details={"home": str(root)},
            )
        try:
            raw = tomllib.loads(paths.config.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigurationError(f"{paths.config} is not valid TOML: {e}") from e
        known = {
            "database_url",
            "client_cert_validity_days",
            "max_body_bytes",
            "hostnames",
            "vended_credentials_seconds",
            "online_store",
            "redis_url",
            "write_lease_seconds",
            "reconcile_interval_seconds",
            "janitor_interval_seconds",
            "stale_upload_seconds",
            "public_url",
            "token_lifetime_seconds",
            "token_leeway_seconds",
            "auth_service_url",
            "auth_service_trust_store",
            "auth_service",
            "sync_worker",
            "sync_threads",
            "sync_retry_max_seconds",
            "sync_reconcile_interval_seconds",
            "sync_poll_seconds",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigurationError(
                f"Unknown setting(s) {unknown} in {paths.config}; known: {sorted(known)}."
            )
        settings = cls(home=root, **raw)
        for name in ("token_lifetime_seconds", "token_leeway_seconds"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86400:
                raise ConfigurationError(
                    f"{name} = {value!r} in {paths.config} must be a number of seconds from 0 to 86400."
                )
        if settings.token_lifetime_seconds < 1:
            raise ConfigurationError(f"token_lifetime_seconds in {paths.config} must be at least 1 second.")
        if not isinstance(settings.sync_worker, bool):
            raise ConfigurationError(f"sync_worker in {paths.config} must be true or false.")
        if (
            isinstance(settings.sync_threads, bool)
            or not isinstance(settings.sync_threads, int)
            or not 1 <= settings.sync_threads <= 64
        ):
            raise ConfigurationError(
                f"sync_threads = {settings.sync_threads!r} in {paths.config} must be 1 to 64."
            )
        for name in ("sync_retry_max_seconds", "sync_reconcile_interval_seconds", "sync_poll_seconds"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 86400:
                raise ConfigurationError(
                    f"{name} = {value!r} in {paths.config} must be a number of seconds from 0.01 to 86400."
                )
        if not isinstance(settings.auth_service, bool):
            raise ConfigurationError(f"auth_service in {paths.config} must be true or false.")
        for name in ("public_url", "auth_service_url"):
            value = getattr(settings, name)
            if not isinstance(value, str) or (value and not value.startswith(("https://", "http://"))):
                raise ConfigurationError(
                    f"{name} = {value!r} in {paths.config} must be a URL such as 'https://host:8181'."
                )
            setattr(settings, name, value.rstrip("/"))
        if database_url:
            settings.database_url = database_url
        if not settings.database_url:
            settings.database_url = f"sqlite:///{paths.sqlite}"
        return settings
