"""The connector: ``larder.connection(...)`` and ``larder.connect(url)``.

A :class:`Connection` resolves an API key (argument, file, environment, local credentials, AWS
Secrets Manager or SSM Parameter Store), opens one HTTPS session to the platform, checks the
server's version, materializes the project's client certificates, picks an engine, and hands out
:class:`~larder.feature_store.FeatureStore` and :class:`~larder.model_registry.ModelRegistry`
handles.

Example:
    >>> import larder
    >>> with larder.connection(host="larder.example.com", port=8181, project="fraud",
    ...                        api_key_file="~/.larder/fraud.key") as conn:  # doctest: +SKIP
    ...     fs = conn.get_feature_store()
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
import weakref
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from larder.engine import Engine, get_engine
from larder.errors import AuthenticationError, ConfigurationError, NotFoundError
from larder.names import check_name

if TYPE_CHECKING:
    from larder.client.auth import AuthService
    from larder.client.certificates import Certificates
    from larder.client.embedded import EmbeddedPlatform
    from larder.client.rest import RestClient
    from larder.feature_store import FeatureStore
    from larder.model_registry import ModelRegistry
    from larder.storage import DatasetRef, Namespace, Storage

__all__ = ["Connection", "connect", "connection"]

log = logging.getLogger("larder.connection")

ENV_HOST = "LARDER_HOST"
ENV_PORT = "LARDER_PORT"
ENV_PROJECT = "LARDER_PROJECT"
ENV_TRUST_STORE = "LARDER_TRUST_STORE"
DEFAULT_PORT = 443
FEATURE_STORE_SUFFIX = "_featurestore"
API_VERSION = "v1"


def _client_version() -> str:
    import larder

    return larder.__version__


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _check_port(port: object, source: str) -> int:
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port.strip())
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigurationError(
            f"Invalid port {port!r} from {source}; use a TCP port between 1 and 65535.",
            details={"port": str(port), "source": source},
        )
    return port


def _check_host(host: object, source: str) -> str:
    if not isinstance(host, str) or not host.strip():
        raise ConfigurationError(
            f"Invalid host {host!r} from {source}; pass a host name such as 'larder.example.com'."
        )
    host = host.strip()
    if "://" in host or "/" in host:
        raise ConfigurationError(
            f"host={host!r} (from {source}) looks like a URL; pass the host name alone with host=... and "
            "port=..., or use larder.connect('https://host:port/project').",
            details={"host": host, "source": source},
        )
    return host.strip("[]")


class Connection:
    """A connection to a Larder platform (hsfs/hsml ``Connection`` style).

    Creating it connects at once (see :meth:`connect`). Unset arguments are taken from the
    environment the platform gives its jobs: ``LARDER_HOST``, ``LARDER_PORT`` (only used with
    ``LARDER_HOST``), ``LARDER_PROJECT``, ``LARDER_API_KEY`` and ``LARDER_TRUST_STORE``. With no
    ``host`` and no ``LARDER_HOST`` it uses the **embedded local platform** under ``LARDER_HOME``
    (default ``~/.larder/local``; started on loopback on first use, ``pip install 'larder-platform[server]'``)
    with project ``default`` (unless ``project`` is given), its local API key (unless
    ``api_key_value`` or ``api_key_file`` is given) and its CA; ``LARDER_PROJECT``,
    ``LARDER_API_KEY`` and ``LARDER_TRUST_STORE`` describe another platform and are ignored there.

    Args:
        host (str | None): the platform's host name or IP, e.g. ``"larder.example.com"``. Default
            None: ``LARDER_HOST``, else the embedded platform.
        port (int): the platform's HTTPS port (default 443; ``LARDER_PORT`` replaces the default
            when the host comes from ``LARDER_HOST``).
        project (str | None): the project to work in. Default None: ``default`` on the embedded
            platform, else ``LARDER_PROJECT``, else your only project.
        engine (str | None): where data work runs: ``"python"``, ``"spark"``, ``"hive"`` or
            ``"training"`` (metadata only). Default None: ``"spark"`` with an active SparkSession
            or on Databricks, else ``"python"``. See :mod:`larder.engine`.
        region_name (str): AWS region of the AWS secrets stores (default ``"default"``: boto3's
            default region).
        secrets_store (str): where to look for the API key after the argument and the file:
            ``"local"`` (default, ``~/.larder/credentials``, written by ``larder login``; after
            ``LARDER_API_KEY``), ``"secretsmanager"`` (secret ``larder/role/<role>``, JSON field
            ``api-key``) or ``"parameterstore"`` (``/larder/role/<role>/type/api-key``); an AWS
            store is asked before ``LARDER_API_KEY``, and needs a host. See
            :mod:`larder.client.apikey`.
        hostname_verification (bool): verify that the server certificate names ``host`` (default
            True). False still verifies the certificate chain.
        trust_store_path (str | None): a PEM CA bundle to verify the server with (default:
            ``LARDER_TRUST_STORE``, else the public CAs of the ``certifi`` bundle that requests ships
            (not the operating system's store), or the embedded platform's CA).
        cert_folder (str | None): where the client certificates are written (default
            ``~/.larder/certs``; see :mod:`larder.client.certificates`).
        api_key_file (str | None): a file holding the API key; used whatever ``secrets_store`` is.
        api_key_value (str | None): the API key itself (takes precedence over every other source).
        auth_instance (AuthService | None): the auth service of a connection you already have
            (``other.auth``): its API key's tokens are used here and no key is looked up. Default
            None: the key is looked up as above and exchanged at the auth service this server
            names (``GET /api/v1/discover``). See :mod:`larder.client.auth`.

    The API key is exchanged for short-lived access tokens wherever the server offers them (at the
    auth service it names, verified with the same trust store), and calls carry
    ``Authorization: Bearer <token>``; a server without an auth service gets the key itself.

    Raises:
        larder.errors.ApiKeyNotFoundError: when no source has a key; the message lists what was tried.
        larder.errors.ConfigurationError: for an invalid argument, an unknown engine or secrets
            store, an engine whose extra is missing, a broken key source, or an AWS secrets store
            or trust store with no host (the message names the host settings looked at).
        larder.errors.ConnectionFailedError: when the platform cannot be reached or TLS
            verification fails (the message says how to fix it).
        larder.errors.AuthenticationError: when the platform refuses the key (the message names
            where the key came from, never the key).
        larder.errors.NotFoundError: when the project does not exist or you are not a member.

    Example:
        >>> import larder
        >>> conn = larder.connection(host="larder.example.com", port=8181, project="fraud",
        ...                          trust_store_path="ca.pem", api_key_file="fraud.key")  # doctest: +SKIP
        >>> conn  # doctest: +SKIP
        Connection(host='larder.example.com', port=8181, project='fraud', engine='python', connected=True)
        >>> fs = conn.get_feature_store()  # doctest: +SKIP
        >>> conn.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        host: str | None = None,
        port: int = DEFAULT_PORT,
        project: str | None = None,
        engine: str | None = None,
        region_name: str = "default",
        secrets_store: str = "local",
        hostname_verification: bool = True,
        trust_store_path: str | None = None,
        cert_folder: str | None = None,
        api_key_file: str | None = None,
        api_key_value: str | None = None,
        auth_instance: AuthService | None = None,
    ) -> None:
        _check_auth_instance(auth_instance)
        self._lock = threading.RLock()
        self._auth_instance = auth_instance
        if auth_instance is not None and (api_key_value is not None or api_key_file is not None):
            raise ConfigurationError(
                "Pass either auth_instance (another connection's auth service) or an API key "
                "(api_key_value / api_key_file), not both.",
                details={"auth_instance": repr(auth_instance)},
            )
        self._connected = False
        self._host = host
        self._port = port
        self._project = project
        self._engine = engine
        self._region_name = region_name
        self._secrets_store = secrets_store
        self._hostname_verification = hostname_verification
        self._trust_store_path = trust_store_path
        self._cert_folder = cert_folder
        self._api_key_file = api_key_file
        self._api_key_value = api_key_value
        self._reset_state()
        self.connect()

    # --- state -----------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._client: RestClient | None = None
        self._certificates: Certificates | None = None
        self._cert_finalizer: weakref.finalize | None = None
        self._engine_instance: Engine | None = None
        self._resolved_host: str | None = None
        self._resolved_port: int | None = None
        self._resolved_project: str | None = None
        self._user: str | None = None
        self._api_key_source: str | None = None
        self._server_version: str | None = None
        self._embedded: EmbeddedPlatform | None = None
        self._storage_instance: Storage | None = None
        self._auth: AuthService | None = None
        self._owns_auth = False

    def _teardown(self) -> None:
        if self._cert_finalizer is not None:
            self._cert_finalizer()  # removes the certificate folder (once)
        if self._client is not None:
            self._client.close()
        if self._auth is not None and self._owns_auth:
            self._auth.close()  # its session only: other connections given it as auth_instance go on
        self._reset_state()

    def _require_connected(self, what: str) -> None:
        if not self._connected:
            raise ConfigurationError(
                f"{what} needs an open connection, and this one is closed; call connect() first.",
                details={"operation": what},
            )

    def _set(self, name: str, value: Any) -> None:
        with self._lock:
            if self._connected:
                raise ConfigurationError(
                    f"Cannot change {name} while connected to {self._url()}; call close() first, then set "
                    f"{name} and call connect() again.",
                    details={"property": name},
                )
            setattr(self, f"_{name}", value)

    def _url(self) -> str:
        if self._resolved_host is None:
            return "(not connected)"
        return f"https://{_url_host(self._resolved_host)}:{self._resolved_port}"

    # --- connect / close -------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection: resolve the key, verify TLS, check the version, get a token, write
        certificates.

        Makes four REST calls: ``GET /discover`` (the version and the auth service; ``GET /version``
        on servers older than the auth service), ``POST /auth/token`` at the auth service (none
        with an ``auth_instance`` holding a valid token, none on a server without an auth service),
        ``GET /projects/{project}`` (``GET /projects`` when no project is given) and
        ``GET /projects/{project}/credentials`` (plus ``GET /auth/keys/{prefix}`` on a server linked
        to another auth service, and one liveness check of the embedded platform when no host is
        given). Calling it on an
        open connection reconnects (a fresh key lookup and fresh certificates); after
        :meth:`close` it opens the connection again.

        Raises:
            larder.errors.LarderError: see :class:`Connection`. A failed connect leaves the
                connection closed, with nothing left on disk.

        Example:
            >>> conn.close(); conn.connect()  # doctest: +SKIP
        """
        with self._lock:
            if self._connected:
                self.close()
            try:
                self._connect()
            except BaseException:
                self._teardown()
                raise
            self._connected = True
            log.info("Connected to %s project %s as %s", self._url(), self._resolved_project, self._user)

    def _connect(self) -> None:
        from larder.client.apikey import ApiKeyChain, FileProvider, ValueProvider, default_chain
        from larder.client.auth import discover
        from larder.client.certificates import materialize, remove
        from larder.client.rest import RestClient

        self._engine_instance = get_engine(self._engine)  # no network: fail fast on a bad engine
        host, port, project, trust = self._resolve_target()
        verify: bool | str = True
        if trust is not None:
            trust_path = Path(trust).expanduser()
            if not trust_path.is_file():
                raise ConfigurationError(
                    f"trust_store_path {trust_path} does not exist; pass the platform's CA certificate "
                    "(PEM; a platform keeps it at <home>/tls/ca.pem).",
                    details={"trust_store_path": str(trust_path)},
                )
            verify = str(trust_path)
        key: str | None = None
        if self._auth_instance is None:
            chain: ApiKeyChain
            if self._embedded is not None:  # the environment's key belongs to another platform
                chain = ApiKeyChain(
                    [
                        ValueProvider(self._api_key_value),
                        FileProvider(self._api_key_file),
                        FileProvider(self._embedded.api_key_file, "embedded platform key"),
                    ],
                    f"{_url_host(host)}:{port}",
                )
            else:
                chain = default_chain(
                    host,
                    port,
                    api_key_value=self._api_key_value,
                    api_key_file=self._api_key_file,
                    secrets_store=self._secrets_store,
                    region_name=self._region_name,
                )
            resolved = chain.resolve()
            key = resolved.key
            self._api_key_source = resolved.source
            del resolved
        else:
            self._api_key_source = f"auth_instance {self._auth_instance.url}"
        self._resolved_host, self._resolved_port = host, port
        base = f"https://{_url_host(host)}:{port}"
        client = RestClient(
            base, None, verify=verify, hostname_verification=bool(self._hostname_verification)
        )
        self._client = client
        info = discover(client)
        self._check_version(info)
        try:
            self._authenticate(client, info, key, verify)
            del key
            self._resolved_project = self._resolve_project(client, project)
            credentials = client.get(f"/projects/{self._resolved_project}/credentials")
        except AuthenticationError as e:  # say which key was refused: where it came from, never the key
            raise AuthenticationError(
                f"{e.message.rstrip('.')} (the key came from {self._api_key_source}); "
                "check that this source holds a key of this platform, or pass another one.",
                details={**e.details, "api_key_source": self._api_key_source},
            ) from None
        certs = materialize(credentials, host, self._cert_folder)
        del credentials
        self._certificates = certs
        self._cert_finalizer = weakref.finalize(self, remove, certs.folder)
        self._user = certs.user

    def _authenticate(
        self, client: RestClient, info: dict[str, Any], key: str | None, verify: bool | str
    ) -> None:
        """Use tokens of ``auth_instance``, or of the auth service the server names (with the
        key), else the key itself on a server that has no auth service."""
        from larder.client.auth import authenticate

        auth = authenticate(client, info, key, self._auth_instance, verify, bool(self._hostname_verification))
        self._auth, self._owns_auth = auth, auth is not None and auth is not self._auth_instance

    def _resolve_target(self) -> tuple[str, int, str | None, str | None]:
        port = _check_port(self._port, "port")
        project = self._project
        if self._host is not None:
            host = _check_host(self._host, "host")
            trust = self._trust_store_path or os.environ.get(ENV_TRUST_STORE) or None
        elif os.environ.get(ENV_HOST, "").strip():
            host = _check_host(os.environ[ENV_HOST], f"env {ENV_HOST}")
            if port == DEFAULT_PORT and os.environ.get(ENV_PORT, "").strip():
                port = _check_port(os.environ[ENV_PORT], f"env {ENV_PORT}")
            trust = self._trust_store_path or os.environ.get(ENV_TRUST_STORE) or None
        else:
            self._refuse_remote_intent()
            from urllib.parse import urlsplit

            from larder.client.embedded import ensure_platform

            self._embedded = ensure_platform()
            parts = urlsplit(self._embedded.url)
            host, port = str(parts.hostname), int(parts.port or DEFAULT_PORT)
            project = project or self._embedded.project
            trust = self._trust_store_path or str(self._embedded.ca_cert)
        if project is None:
            project = os.environ.get(ENV_PROJECT, "").strip() or None
        if project is not None:
            check_name("project", project)
        return host, port, project, trust

    def _refuse_remote_intent(self) -> None:
        """No host: an argument that only means something for a remote platform (an AWS secrets
        store, a trust store) is an error rather than a silent switch to the embedded platform,
        where a job's data would land on a throwaway local server."""
        intent = []
        if self._secrets_store != "local":
            intent.append(f"secrets_store={self._secrets_store!r}")
        if self._trust_store_path is not None:
            intent.append(f"trust_store_path={self._trust_store_path!r}")
        if intent:
            raise ConfigurationError(
                f"{' and '.join(intent)} describe(s) a remote platform, but no host was found: the host "
                f"argument is None and {ENV_HOST} is not set (nor {ENV_PORT}, which applies only with "
                f"{ENV_HOST}). Pass host=... and port=... (or set {ENV_HOST} and {ENV_PORT}), or leave out "
                f"{' and '.join(i.split('=')[0] for i in intent)} to use the embedded local platform.",
                details={"looked_at": ["host", ENV_HOST, ENV_PORT], "remote_arguments": intent},
            )

    def _check_version(self, body: Any) -> None:
        server = str(body.get("version", "")) if isinstance(body, dict) else ""
        api = str(body.get("api_version", "")) if isinstance(body, dict) else ""
        self._server_version = server or None
        client = _client_version()
        if api and api != API_VERSION:
            message = (
                f"The Larder server at {self._url()} speaks REST API {api} but this client speaks "
                f"{API_VERSION}; install a client matching the server {server}: pip install 'larder-platform=={server}'."
            )
            log.warning(message)
            warnings.warn(message, UserWarning, stacklevel=4)
        elif server and _major_minor(server) != _major_minor(client):
            wanted = ".".join(_major_minor(server))
            message = (
                f"The Larder server at {self._url()} runs version {server} but this client is {client}; "
                f"their major.minor versions differ, so some calls may fail. Install a matching client: "
                f"pip install 'larder-platform=={wanted}.*'."
            )
            log.warning(message)
            warnings.warn(message, UserWarning, stacklevel=4)

    def _resolve_project(self, client: RestClient, project: str | None) -> str:
        if project is not None:
            client.get(f"/projects/{project}")
            return project
        mine = client.get("/projects")
        names = [str(p.get("name")) for p in mine] if isinstance(mine, list) else []
        if len(names) == 1:
            return names[0]
        if not names:
            raise ConfigurationError(
                f"No project given, and you are not a member of any project on {self._url()}; create one "
                "with 'larder project create NAME' or ask a data owner to add you, then pass project=....",
                details={"projects": []},
            )
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise ConfigurationError(
            f"No project given, and you are a member of {len(names)} projects on {self._url()} ({shown}); "
            f"pass project=... or set {ENV_PROJECT}.",
            details={"projects": names[:50]},
        )

    def close(self) -> None:
        """Close the connection: end the HTTPS session and delete the certificate files.

        Safe to call more than once; :meth:`connect` opens the connection again.

        Example:
            >>> conn.close()  # doctest: +SKIP
        """
        with self._lock:
            was = self._connected
            self._connected = False
            self._teardown()
            if was:
                log.info("Closed the Larder connection")

    def __enter__(self) -> Connection:
        if not self._connected:
            self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Connection(host={self.host!r}, port={self.port!r}, project={self.project!r}, "
            f"engine={self.engine!r}, connected={self._connected})"
        )

    # --- handles ---------------------------------------------------------------------------------

    def _check_visible(self, project: str, what: str, path: str | None = None) -> None:
        assert self._client is not None
        try:
            self._client.get(path or f"/projects/{project}")
        except NotFoundError as e:
            raise NotFoundError(
                f"Cannot open the {what} of project '{project}': it does not exist, or it is not shared "
                f"with user '{self._user}'. Ask a data owner of '{project}' to add you.",
                details={"project": project, "user": self._user},
            ) from e

    def get_feature_store(self, name: str | None = None) -> FeatureStore:
        """Return a feature store handle: the project's own, or a shared project's by name.

        The own project's store needs no REST call; another project's is checked once
        (``GET /projects/{name}``).

        Args:
            name (str | None): the feature store (``"<project>_featurestore"``) or project name.
                Default None: the connection's project.

        Returns:
            FeatureStore: the handle.

        Raises:
            larder.errors.ConfigurationError: when the connection is closed.
            larder.errors.InvalidArgumentError: when ``name`` is not a valid project name.
            larder.errors.NotFoundError: when the project does not exist or is not shared with you.

        Example:
            >>> fs = conn.get_feature_store()  # doctest: +SKIP
            >>> other = conn.get_feature_store("fraud_featurestore")  # doctest: +SKIP
        """
        from larder.feature_store import FeatureStore

        with self._lock:
            self._require_connected("get_feature_store()")
            assert self._resolved_project is not None
            project = self._resolved_project
            if name is not None:
                project = name[: -len(FEATURE_STORE_SUFFIX)] if name.endswith(FEATURE_STORE_SUFFIX) else name
                check_name("project", project)
                if project != self._resolved_project:
                    # visible to members, and to members of projects it is shared with
                    self._check_visible(project, "feature store", f"/projects/{project}/featurestore")
            return FeatureStore(f"{project}{FEATURE_STORE_SUFFIX}", project, self)

    def get_model_registry(self, project: str | None = None) -> ModelRegistry:
        """Return a model registry handle: the project's own, or a shared project's.

        The own project's registry needs no REST call; another project's is checked once
        (``GET /projects/{project}``).

        Args:
            project (str | None): the project whose registry to open. Default None: the
                connection's project.

        Returns:
            ModelRegistry: the handle.

        Raises:
            larder.errors.ConfigurationError: when the connection is closed.
            larder.errors.InvalidArgumentError: when ``project`` is not a valid project name.
            larder.errors.NotFoundError: when the project does not exist or is not shared with you.

        Example:
            >>> mr = conn.get_model_registry()  # doctest: +SKIP
        """
        from larder.model_registry import ModelRegistry

        with self._lock:
            self._require_connected("get_model_registry()")
            assert self._resolved_project is not None
            target = self._resolved_project if project is None else check_name("project", project)
            if target != self._resolved_project:
                # a shared registry is visible to members of the projects it is shared with
                self._check_visible(target, "model registry", f"/projects/{target}/models/_registry")
            return ModelRegistry(target, self)

    # --- storage: namespaces, datasets, search ---------------------------------------------------

    def _storage(self) -> Storage:
        from larder.storage import Storage

        with self._lock:
            self._require_connected("storage")
            assert self._client is not None
            if self._storage_instance is None or self._storage_instance._rest is not self._client:
                self._storage_instance = Storage(self._client)
            return self._storage_instance

    def create_namespace(
        self, name: str, description: str = "", object_store_name: str = "local", bucket: str | None = None
    ) -> Namespace:
        """Create a namespace: a bucket (or top folder) on an object store (platform admins only).

        Args:
            name (str): 2-63 characters: lowercase letters, digits, ``_`` or ``-``, starting with a letter.
            description (str): what it is for (default ``""``).
            object_store_name (str): a registered object store (default ``"local"``, the server's own).
            bucket (str | None): the bucket (S3) or folder (local); default: ``name`` with ``_`` -> ``-``.
                An S3 bucket that does not exist is created.

        Returns:
            Namespace: the new namespace.

        Raises:
            larder.errors.PermissionDeniedError: when you are not a platform admin.
            larder.errors.AlreadyExistsError: when the name is taken.
            larder.errors.NotFoundError: when the object store is unknown.

        Example:
            >>> ns = conn.create_namespace("lake", "the data lake", "s3-prod", "acme-lake")  # doctest: +SKIP
        """
        return self._storage().create_namespace(name, description, object_store_name, bucket)

    def list_namespaces(self) -> list[Namespace]:
        """All namespaces of the platform (their datasets stay private to who may read them).

        Returns:
            list[Namespace]: every namespace, by name.

        Example:
            >>> [ns.name for ns in conn.list_namespaces()]  # doctest: +SKIP
            ['default']
        """
        return self._storage().list_namespaces()

    def get_namespace(self, name: str = "default") -> Namespace:
        """A namespace by name.

        Args:
            name (str): the namespace (default ``"default"``, the server's built-in local namespace).

        Returns:
            Namespace: the namespace; its datasets are listed by :meth:`Namespace.list_datasets`.

        Raises:
            larder.errors.NotFoundError: when it does not exist.

        Example:
            >>> ds = conn.get_namespace("default").get_dataset("default_models")  # doctest: +SKIP
        """
        return self._storage().get_namespace(name)

    def delete_namespace(self, name: str) -> None:
        """Delete an empty namespace (platform admins only). Its bucket or folder is left in place.

        Args:
            name (str): the namespace.

        Raises:
            larder.errors.ConflictError: while it still holds datasets; the message lists them.
            larder.errors.PermissionDeniedError: when you are not a platform admin.
            larder.errors.NotFoundError: when it does not exist.

        Example:
            >>> conn.delete_namespace("lake")  # doctest: +SKIP
        """
        self._storage().delete_namespace(name)

    def search(
        self,
        metadata: dict[str, str] | None = None,
        namespace: str | None = None,
        dataset: str | None = None,
        modified_after: datetime | str | int | None = None,
        modified_before: datetime | str | int | None = None,
        limit: int = 100,
    ) -> list[DatasetRef]:
        """Find objects by their user metadata, in the datasets you may read.

        Args:
            metadata (dict[str, str] | None): pairs that must all match (AND).
            namespace (str | None): only this namespace (default: all).
            dataset (str | None): only this dataset (needs ``namespace``).
            modified_after (datetime | str | int | None): only objects written after this time: a
                datetime, an ISO 8601 string such as ``"2020-01-01T00:00:00Z"``, or epoch
                milliseconds; naive values are taken as UTC (with a ``NaiveTimeWarning``).
            modified_before (datetime | str | int | None): only objects written before this time
                (the same forms).
            limit (int): at most this many results, 1-1000 (default 100), newest first.

        Returns:
            list[DatasetRef]: the matching objects.

        Raises:
            larder.errors.InvalidArgumentError: on a bad limit, or a time that cannot be read
                (the message names it and the accepted forms).

        Example:
            >>> refs = conn.search(metadata={"source": "crm", "year": "2024"})  # doctest: +SKIP
        """
        return self._storage().search(metadata, namespace, dataset, modified_after, modified_before, limit)

    def ui_url(self) -> str:
        """A one-time link that opens the platform's web UI signed in as this connection's user.

        The link carries a random token, not the API key: it is good once, for 120 seconds, and
        signs the browser in with this connection's key (its user and scopes). Open it with
        :func:`webbrowser.open` or click it in a notebook; ``larder ui`` does the same from a
        terminal.

        Returns:
            str: ``https://HOST:PORT/login/link?token=...``.

        Raises:
            larder.errors.ConfigurationError: when the connection is closed.

        Example:
            >>> import webbrowser
            >>> webbrowser.open(conn.ui_url())  # doctest: +SKIP
        """
        self._require_connected("ui_url()")
        assert self._client is not None
        return str(self._client.post("/ui/login-links", {})["url"])

    def get_engine(self) -> Engine:
        """The engine data work runs on (see :mod:`larder.engine`).

        Returns:
            Engine: the connection's engine; ``.name`` is ``"python"``, ``"spark"``, ``"hive"`` or
            ``"training"``.

        Raises:
            larder.errors.ConfigurationError: when the connection is closed.

        Example:
            >>> conn.get_engine().name  # doctest: +SKIP
            'python'
        """
        self._require_connected("get_engine()")
        assert self._engine_instance is not None
        return self._engine_instance

    def spark_config(self) -> dict[str, str]:
        """The Spark configuration this connection's feature store needs, for a session you start
        (``SparkSession.builder.config(map=...)``, ``spark-submit --conf``, a cluster's Spark config).

        Delta Lake's package, SQL extension and catalog, UTC as the session time zone, small-machine
        partition counts (see :func:`larder.engine.spark.session.spark_config`); when the project's
        feature store is on S3, also the ``hadoop-aws`` package and the bucket's ``fs.s3a`` settings
        with the dataset's vended credentials (short-lived secrets: the spark engine sets fresh ones
        on each read and write; never log this dict).

        Returns:
            dict[str, str]: setting -> value.

        Raises:
            larder.errors.ConfigurationError: when the connection is closed.

        Example:
            >>> from pyspark.sql import SparkSession  # doctest: +SKIP
            >>> spark = SparkSession.builder.config(map=conn.spark_config()).getOrCreate()  # doctest: +SKIP
        """
        from larder.engine.spark.session import HADOOP_AWS_PACKAGE, s3a_config, spark_config

        self._require_connected("spark_config()")
        config = spark_config()
        dataset = self.get_feature_store()._dataset()
        if dataset.uri.startswith("s3://"):
            bucket = dataset.uri[len("s3://") :].split("/", 1)[0]
            config["spark.jars.packages"] += "," + HADOOP_AWS_PACKAGE
            config.update(s3a_config(bucket, dataset.storage_options()))
        return config

    def setup_databricks(self) -> dict[str, list[str]]:
        """Apply this connection's Spark configuration to the active session (on Databricks: Delta
        is built in, so only the time zone, partitions and object-store settings apply) and print
        what needs a cluster restart (see :func:`larder.engine.spark.session.setup_spark`).

        Returns:
            dict[str, list[str]]: ``{"applied": [keys], "restart": [keys]}``.

        Raises:
            larder.errors.ConfigurationError: when no SparkSession is active or the connection is
                closed.

        Example:
            >>> conn.setup_databricks()  # doctest: +SKIP
        """
        from larder.engine.spark.session import active_session, setup_spark

        return setup_spark(active_session("setup_databricks()"), self.spark_config())

    # --- read-only facts about the open connection ------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the connection is open."""
        return self._connected

    @property
    def url(self) -> str | None:
        """The platform's base URL, e.g. ``"https://larder.example.com:8181"`` (None when closed)."""
        return self._url() if self._connected else None

    @property
    def user(self) -> str | None:
        """The platform user the API key belongs to (None when closed)."""
        return self._user

    @property
    def auth(self) -> AuthService | None:
        """The auth service this connection gets its access tokens from (None when closed, or when
        the server has no auth service and the API key itself is sent). Pass it as
        ``auth_instance=`` to connect to a linked server with the same key.

        Example:
            >>> cloud = larder.connect("https://larder.cloud.example:8181/fraud",
            ...                        auth_instance=onprem.auth)  # doctest: +SKIP
        """
        return self._auth

    @property
    def api_key_source(self) -> str | None:
        """Where the API key came from, e.g. ``"env LARDER_API_KEY"`` (never the key; None when closed)."""
        return self._api_key_source

    @property
    def server_version(self) -> str | None:
        """The platform's version, from ``GET /api/v1/version`` (None when closed)."""
        return self._server_version

    @property
    def embedded(self) -> bool:
        """True when connected to the embedded local platform."""
        return self._embedded is not None

    @property
    def certificates(self) -> Certificates:
        """The paths of this connection's client certificate files.

        Raises:
            larder.errors.ConfigurationError: when the connection is closed (the files are gone).
        """
        self._require_connected("certificates")
        assert self._certificates is not None
        return self._certificates

    # --- configuration (settable only while closed) ----------------------------------------------

    @property
    def host(self) -> str | None:
        """The platform host (the resolved one while connected). Settable only while closed."""
        return self._resolved_host if self._connected else self._host

    @host.setter
    def host(self, value: str | None) -> None:
        self._set("host", value)

    @property
    def port(self) -> int:
        """The platform port (the resolved one while connected). Settable only while closed."""
        if self._connected and self._resolved_port is not None:
            return self._resolved_port
        return self._port

    @port.setter
    def port(self, value: int) -> None:
        self._set("port", value)

    @property
    def project(self) -> str | None:
        """The project (the resolved one while connected). Settable only while closed."""
        return self._resolved_project if self._connected else self._project

    @project.setter
    def project(self, value: str | None) -> None:
        self._set("project", value)

    @property
    def engine(self) -> str | None:
        """The engine's name (the resolved one while connected). Settable only while closed."""
        if self._connected and self._engine_instance is not None:
            return self._engine_instance.name
        return self._engine

    @engine.setter
    def engine(self, value: str | None) -> None:
        self._set("engine", value)

    @property
    def region_name(self) -> str:
        """The AWS region of the AWS secrets stores. Settable only while closed."""
        return self._region_name

    @region_name.setter
    def region_name(self, value: str) -> None:
        self._set("region_name", value)

    @property
    def secrets_store(self) -> str:
        """Where the API key is looked up last. Settable only while closed."""
        return self._secrets_store

    @secrets_store.setter
    def secrets_store(self, value: str) -> None:
        self._set("secrets_store", value)

    @property
    def hostname_verification(self) -> bool:
        """Whether the server certificate must name the host. Settable only while closed."""
        return self._hostname_verification

    @hostname_verification.setter
    def hostname_verification(self, value: bool) -> None:
        self._set("hostname_verification", value)

    @property
    def trust_store_path(self) -> str | None:
        """The PEM CA bundle the server is verified with. Settable only while closed."""
        return self._trust_store_path

    @trust_store_path.setter
    def trust_store_path(self, value: str | None) -> None:
        self._set("trust_store_path", value)

    @property
    def cert_folder(self) -> str | None:
        """Where client certificates are written (None: ``~/.larder/certs``). Settable only while closed."""
        return self._cert_folder

    @cert_folder.setter
    def cert_folder(self, value: str | None) -> None:
        self._set("cert_folder", value)

    @property
    def api_key_file(self) -> str | None:
        """The file the API key is read from. Settable only while closed."""
        return self._api_key_file

    @api_key_file.setter
    def api_key_file(self, value: str | None) -> None:
        self._set("api_key_file", value)

    @property
    def api_key_value(self) -> str | None:
        """``"***"`` when an API key was given directly, else None: the key itself is never shown.

        Settable only while closed.
        """
        return None if self._api_key_value is None else "***"

    @api_key_value.setter
    def api_key_value(self, value: str | None) -> None:
        self._set("api_key_value", value)


def connection(
    host: str | None = None,
    port: int = DEFAULT_PORT,
    project: str | None = None,
    engine: str | None = None,
    region_name: str = "default",
    secrets_store: str = "local",
    hostname_verification: bool = True,
    trust_store_path: str | None = None,
    cert_folder: str | None = None,
    api_key_file: str | None = None,
    api_key_value: str | None = None,
    auth_instance: AuthService | None = None,
) -> Connection:
    """Connect to a Larder platform and return the open :class:`Connection`.

    With no arguments (and no ``LARDER_HOST``) it starts or reuses the embedded local platform.
    The API key is looked up in order: ``api_key_value``, ``api_key_file``, ``LARDER_API_KEY``,
    then ``secrets_store`` (an AWS store before ``LARDER_API_KEY``).

    Args:
        host (str | None): the platform host; default ``LARDER_HOST``, else the embedded platform.
        port (int): the HTTPS port (default 443, or ``LARDER_PORT`` with ``LARDER_HOST``).
        project (str | None): the project; default ``default`` on the embedded platform, else
            ``LARDER_PROJECT``, else your only project.
        engine (str | None): ``"python"``, ``"spark"``, ``"hive"``, ``"training"`` or None (auto).
        region_name (str): AWS region of the AWS secrets stores (default: boto3's default).
        secrets_store (str): ``"local"`` (default), ``"secretsmanager"`` or ``"parameterstore"``.
        hostname_verification (bool): verify that the certificate names the host (default True).
        trust_store_path (str | None): PEM CA bundle (default: ``LARDER_TRUST_STORE``, else certifi's public CAs).
        cert_folder (str | None): where client certificates go (default ``~/.larder/certs``).
        api_key_file (str | None): a file holding the API key.
        api_key_value (str | None): the API key itself.
        auth_instance (AuthService | None): another connection's auth service (``conn.auth``), to
            use its key's tokens here instead of looking up a key (see :class:`Connection`).

    Returns:
        Connection: the open connection; use it as a context manager to close it.

    Raises:
        larder.errors.LarderError: see :class:`Connection`.

    Example:
        >>> import larder
        >>> conn = larder.connection()  # the embedded local platform  # doctest: +SKIP
        >>> conn.project  # doctest: +SKIP
        'default'
    """
    return Connection(
        host=host,
        port=port,
        project=project,
        engine=engine,
        region_name=region_name,
        secrets_store=secrets_store,
        hostname_verification=hostname_verification,
        trust_store_path=trust_store_path,
        cert_folder=cert_folder,
        api_key_file=api_key_file,
        api_key_value=api_key_value,
        auth_instance=auth_instance,
    )


_URL_FIXED = ("host", "port", "project")


def _check_auth_instance(auth_instance: object) -> None:
    from larder.client.auth import AuthService

    if isinstance(auth_instance, str):
        # never echo the value: it is an API key
        raise ConfigurationError(
            "auth_instance is the auth service of a connection you already have (conn.auth), not an API "
            "key; pass the key as api_key_value=... (or api_key_file=..., LARDER_API_KEY). Passing a key "
            "as auth_instance worked in Larder 0.1 and stopped when tokens came (issue 20).",
            details={"auth_instance": "str"},
        )
    if auth_instance is not None and not isinstance(auth_instance, AuthService):
        raise ConfigurationError(
            f"auth_instance must be an AuthService (another connection's conn.auth) or None, not "
            f"{type(auth_instance).__name__}.",
            details={"auth_instance": type(auth_instance).__name__},
        )


def connect(url: str, auth_instance: AuthService | None = None, **kwargs: Any) -> Connection:
    """Connect from a URL, Hoss style: ``larder.connect("https://host:port/project")``.

    Args:
        url (str): ``https://<host>[:<port>][/<project>]``; the port defaults to 443 and the project
            as in :func:`connection`.
        auth_instance (AuthService | None): the auth service of a connection you already have
            (``other.auth``): its key's tokens are used here, for servers linked to that auth service
            that do not know your key. Default None: the API key is looked up like
            :func:`connection` does (``api_key_value``, ``api_key_file``, ``LARDER_API_KEY``,
            ``secrets_store``) and exchanged at the auth service this server names.
        **kwargs: any other :class:`Connection` argument (``engine``, ``trust_store_path``,
            ``api_key_value``, ``api_key_file``, ``secrets_store``, ...), but not ``host``,
            ``port`` or ``project``, which the URL gives.

    Returns:
        Connection: the open connection.

    Raises:
        larder.errors.ConfigurationError: when the URL is not ``https://host[:port][/project]``,
            carries credentials, a keyword repeats what the URL gives, or ``auth_instance`` is an
            API key string (pass it as ``api_key_value=``).
        larder.errors.AuthenticationError: when the server does not trust ``auth_instance``'s
            issuer (the message names it), or refuses the key.
        larder.errors.LarderError: see :class:`Connection`.

    Example:
        >>> import larder
        >>> onprem = larder.connect("https://larder.onprem.example:8181/fraud",
        ...                         trust_store_path="ca.pem")  # key from LARDER_API_KEY  # doctest: +SKIP
        >>> cloud = larder.connect("https://larder.cloud.example:8181/fraud",
        ...                        auth_instance=onprem.auth, trust_store_path="ca.pem")  # doctest: +SKIP
    """
    from furl import furl

    if not isinstance(url, str):
        raise ConfigurationError(
            f"url must be a string such as 'https://host:8181/project', not {type(url).__name__}."
        )
    try:
        parsed = furl(url.strip())
    except ValueError as e:
        raise ConfigurationError(f"Invalid URL {url!r}: {e}.", details={"url": url}) from None
    shown = f"{parsed.scheme}://{parsed.host}" if parsed.host else repr(url)
    if parsed.username or parsed.password:
        raise ConfigurationError(
            "Do not put credentials in the URL; pass the API key as api_key_value=... (or set LARDER_API_KEY).",
            details={"url": shown},
        )
    if (parsed.scheme or "").lower() != "https" or not parsed.host:
        raise ConfigurationError(
            f"Invalid URL {url!r}: use https://<host>[:<port>][/<project>] (Larder connects over HTTPS only).",
            details={"url": url},
        )
    segments = [s for s in parsed.path.segments if s]
    if len(segments) > 1 or parsed.args or parsed.fragment:
        raise ConfigurationError(
            f"Invalid URL {url!r}: after the host and port only a project name may follow, e.g. "
            "https://larder.example.com:8181/fraud.",
            details={"url": url},
        )
    repeated = sorted(k for k in kwargs if k in _URL_FIXED)
    if repeated:
        raise ConfigurationError(
            f"{', '.join(repeated)} come(s) from the URL; do not pass them as keywords.",
            details={"keywords": repeated},
        )
    _check_auth_instance(auth_instance)
    return Connection(
        host=str(parsed.host),
        port=int(parsed.port or DEFAULT_PORT),
        project=segments[0] if segments else None,
        auth_instance=auth_instance,
        **kwargs,
    )
