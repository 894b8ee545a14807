"""Namespaces and datasets on the client (Hoss style).

A **namespace** is a bucket (or top folder) on an object store; a **dataset** is a named prefix in a
namespace with an owner and permissions. User code never learns which endpoint, bucket or policy
it talks to: it asks for a dataset and works with :class:`~larder.storage.ref.DatasetRef` paths.

Example:
    >>> ns = conn.get_namespace("default")                       # doctest: +SKIP
    >>> ds = ns.create_dataset("raw_events", description="clickstream")  # doctest: +SKIP
    >>> (ds / "2024" / "day1.csv").write_text("a,b\\n1,2\\n")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from larder.errors import ConfigurationError, InvalidArgumentError, PermissionDeniedError
from larder.names import check_name
from larder.storage.backends import LocalBackend, S3Backend
from larder.storage.credentials import S3ClientFactory, VendedCredentials, fetch
from larder.storage.ref import DatasetRef

if TYPE_CHECKING:
    from larder.client.rest import RestClient


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Storage:
    """Namespaces, datasets and search over one platform connection (used by ``Connection``)."""

    def __init__(self, rest: RestClient) -> None:
        self._rest = rest
        self._factories: dict[tuple[str, tuple[str, ...]], S3ClientFactory] = {}
        self._local: dict[tuple[str, tuple[str, ...]], tuple[VendedCredentials, datetime]] = {}
        self._lock = threading.Lock()

    # --- namespaces ---------------------------------------------------------------------------

    def create_namespace(
        self, name: str, description: str = "", object_store_name: str = "local", bucket: str | None = None
    ) -> Namespace:
        check_name("namespace", name)
        body = {"name": name, "description": description, "object_store": object_store_name, "bucket": bucket}
        return Namespace(self, self._rest.post("/namespaces", body))

    def list_namespaces(self) -> list[Namespace]:
        return [Namespace(self, n) for n in self._rest.get("/namespaces")]

    def get_namespace(self, name: str) -> Namespace:
        check_name("namespace", name)
        return Namespace(self, self._rest.get(f"/namespaces/{name}"))

    def delete_namespace(self, name: str) -> None:
        check_name("namespace", name)
        self._rest.delete(f"/namespaces/{name}")

    # --- search -------------------------------------------------------------------------------

    def search(
        self,
        metadata: dict[str, str] | None = None,
        namespace: str | None = None,
        dataset: str | None = None,
        modified_after: datetime | str | int | None = None,
        modified_before: datetime | str | int | None = None,
        limit: int = 100,
    ) -> list[DatasetRef]:
        body: dict[str, Any] = {
            "metadata": dict(metadata or {}),
            "namespace": namespace,
            "dataset": dataset,
            "modified_after": _iso(modified_after, "modified_after"),
            "modified_before": _iso(modified_before, "modified_before"),
            "limit": limit,
        }
        found = self._rest.post("/search", body)
        cache: dict[tuple[str, str], Dataset] = {}
        refs = []
        for o in found:
            k = (o["namespace"], o["dataset"])
            if k not in cache:
                cache[k] = Namespace(self, {"name": o["namespace"]}).get_dataset(o["dataset"])
            refs.append(cache[k] / o["key"])
        return refs

    # --- credentials --------------------------------------------------------------------------

    def credentials(self, namespace: str, datasets: list[str]) -> VendedCredentials:
        return fetch(self._rest, namespace, datasets)

    def reusable_credentials(self, namespace: str, datasets: list[str]) -> VendedCredentials:
        """Credentials for ``datasets``. A local store's are re-used until half their lifetime has
        passed: they hold a root path and the caller's access, no secret, and every dataset
        operation and feature group query needs them (each REST call cost ~10 ms). S3 credentials
        are fetched fresh each time (long-lived users renew through :class:`S3ClientFactory`)."""
        key = (namespace, tuple(sorted(set(datasets))))
        now = datetime.now(timezone.utc)
        with self._lock:
            cached = self._local.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        creds = self.credentials(namespace, list(key[1]))
        if creds.type == "local":
            with self._lock:
                self._local[key] = (creds, now + (creds.expiration - now) / 2)
        return creds

    def backend(self, namespace: str, datasets: list[str]) -> tuple[LocalBackend | S3Backend, dict[str, str]]:
        """A backend able to reach ``datasets`` of ``namespace``, and the caller's access to each."""
        key = (namespace, tuple(sorted(set(datasets))))
        with self._lock:
            factory = self._factories.get(key)
        if factory is not None:
            return S3Backend(factory.current.bucket, factory.client, factory.current.endpoint_url), dict(
                factory.current.datasets
            )
        creds = self.reusable_credentials(namespace, list(key[1]))
        if creds.type == "local":
            assert creds.paths is not None
            return LocalBackend(creds.paths), dict(creds.datasets)
        factory = S3ClientFactory(self._rest, creds, list(key[1]))
        with self._lock:
            self._factories[key] = factory
        return S3Backend(creds.bucket, factory.client, creds.endpoint_url), dict(creds.datasets)

    def factory(self, namespace: str, datasets: list[str]) -> S3ClientFactory | None:
        return self._factories.get((namespace, tuple(sorted(set(datasets)))))


def _iso(t: Any, what: str) -> str | None:
    from larder._time import to_utc

    value = to_utc(t, what)
    return None if value is None else value.isoformat()


class Namespace:
    """A namespace: a bucket (or top folder) on an object store that holds datasets.

    Get one with ``conn.get_namespace(name)``; don't construct it yourself.

    Attributes:
        name (str): the namespace name.
        description (str): what it holds.
        object_store (str): the object store it lives on.
        bucket (str): the bucket (or folder) on that store.

    Example:
        >>> ns = conn.get_namespace("default")  # doctest: +SKIP
        >>> ds = ns.get_dataset("default_models")  # doctest: +SKIP
    """

    def __init__(self, storage: Storage, info: dict[str, Any]) -> None:
        self._storage = storage
        self.name: str = info["name"]
        self.description: str = info.get("description", "")
        self.object_store: str = info.get("object_store", "")
        self.bucket: str = info.get("bucket", "")

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, object_store={self.object_store!r})"

    def create_dataset(self, name: str, description: str = "") -> Dataset:
        """Create a standalone dataset (platform role ``privileged`` or ``admin``; every project
        has its own ``<project>_featurestore`` and ``<project>_models`` datasets).

        Args:
            name (str): 2-80 characters: lowercase letters, digits, ``_`` or ``-``, starting with a
                letter; names ending in ``_featurestore`` or ``_models`` are reserved for projects.
            description (str): what it holds (default ``""``).

        Returns:
            Dataset: the new dataset; you own it and have ``rw`` access.

        Raises:
            InvalidArgumentError: on a bad or reserved name.
            AlreadyExistsError: when it exists.
            PermissionDeniedError: when your platform role is ``user``.

        Example:
            >>> ds = conn.get_namespace("default").create_dataset("raw_events")  # doctest: +SKIP
        """
        check_name("dataset", name)
        info = self._storage._rest.post(
            f"/namespaces/{self.name}/datasets", {"name": name, "description": description}
        )
        return Dataset(self, info)

    def list_datasets(self) -> list[Dataset]:
        """The datasets of this namespace that you may read (only those).

        Returns:
            list[Dataset]: by name, each with your ``access``.

        Example:
            >>> [ds.name for ds in conn.get_namespace("default").list_datasets()]  # doctest: +SKIP
            ['default_featurestore', 'default_models']
        """
        return [Dataset(self, d) for d in self._storage._rest.get(f"/namespaces/{self.name}/datasets")]

    def get_dataset(self, name: str) -> Dataset:
        """A dataset by name.

        Args:
            name (str): the dataset name.

        Returns:
            Dataset: the dataset, with your ``access``.

        Raises:
            NotFoundError: when it does not exist or you have no access to it (indistinguishable).

        Example:
            >>> ds = conn.get_namespace("default").get_dataset("raw_events")  # doctest: +SKIP
        """
        check_name("dataset", name)
        return Dataset(self, self._storage._rest.get(f"/namespaces/{self.name}/datasets/{name}"))

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset and every object under its prefix (owner or admin). Siblings sharing a
        name prefix (``foo`` vs ``foobar``) are never touched.

        Args:
            name (str): the dataset name.

        Raises:
            NotFoundError: when it does not exist or you cannot see it.
            PermissionDeniedError: when you are neither its owner nor an admin.

        Example:
            >>> conn.get_namespace("default").delete_dataset("raw_events")  # doctest: +SKIP
        """
        check_name("dataset", name)
        self._storage._rest.delete(f"/namespaces/{self.name}/datasets/{name}")

    # --- sync targets (Hoss: Namespace.get_sync_configuration / enable_sync_target) -------------

    def get_sync_configuration(self) -> list[dict[str, str]]:
        """The namespace's sync targets: where its syncing datasets' changes go.

        Returns:
            list[dict]: one dict per target, ``{"target_core_service": "https://cloud.example:8181/api/v1",
            "target_namespace": "default", "sync_type": "duplex"}``; empty when it syncs nowhere.

        Example:
            >>> conn.get_namespace("default").get_sync_configuration()  # doctest: +SKIP
            [{'target_core_service': 'https://cloud.example:8181/api/v1', 'target_namespace': 'default', 'sync_type': 'duplex'}]
        """
        return list(self._storage._rest.get(f"/namespaces/{self.name}/sync-targets"))

    def enable_sync_target(
        self,
        target_core_service: str,
        sync_type: str,
        target_namespace: str,
        api_key: str | None = None,
        trust_store: str | os.PathLike[str] | None = None,
    ) -> list[dict[str, str]]:
        """Add a sync target (platform admins only): datasets of this namespace that enable sync
        send their writes and deletes to ``target_namespace`` on ``target_core_service``.

        A target may be this same server with another namespace (another bucket). One target per
        namespace is what is supported: a second is accepted with a warning.

        Args:
            target_core_service (str): the target server's API URL, ``"https://host:port/api/v1"``
                (``"https://host:port"`` works too).
            sync_type (str): ``"simplex"`` (1-way: only ``simplex`` datasets) or ``"duplex"``
                (2-way: datasets may be either; the target's admin adds the target back).
            target_namespace (str): the namespace on the target server.
            api_key (str | None): an admin API key of the target server (or of the auth service it
                trusts), which this server keeps encrypted and uses for the sync; needed once per
                target server, later targets there reuse it. Default None.
            trust_store (str | PathLike | None): the target's CA bundle (PEM file), kept with the
                key; default None (the public CAs, or the one kept before).

        Returns:
            list[dict]: the namespace's targets afterwards (see :meth:`get_sync_configuration`).

        Raises:
            PermissionDeniedError: when you are not a platform admin (403, naming the role).
            InvalidArgumentError: a bad URL or sync type, no credential for that server, or the
                namespace itself as its target.
            LarderError: what the target server answered when it was checked (an unknown key, no
                such namespace) or ConnectionFailedError when it could not be reached.

        Example:
            >>> ns = conn.get_namespace("default")  # doctest: +SKIP
            >>> ns.enable_sync_target("https://cloud.example:8181/api/v1", "duplex", "default",
            ...                       api_key=open("cloud_admin_key").read().strip(),
            ...                       trust_store="cloud-ca.pem")  # doctest: +SKIP
        """
        body: dict[str, Any] = {
            "target_core_service": target_core_service,
            "sync_type": sync_type,
            "target_namespace": target_namespace,
        }
        if api_key is not None:
            body["api_key"] = api_key
        if trust_store is not None:
            path = Path(trust_store).expanduser()
            if not path.is_file():
                raise ConfigurationError(
                    f"trust_store {path} does not exist; pass the target server's CA (PEM; <its home>/tls/ca.pem).",
                    details={"trust_store": str(path)},
                )
            body["trust_store_pem"] = path.read_text()
        out = self._storage._rest.post(f"/namespaces/{self.name}/sync-targets", body)
        if out.get("warning"):
            warnings.warn(out["warning"], UserWarning, stacklevel=2)
        return list(out["targets"])

    def disable_sync_target(self, target_core_service: str, target_namespace: str) -> list[dict[str, str]]:
        """Remove a sync target (platform admins only); changes not yet sent there are dropped.

        Args:
            target_core_service (str): the target server's API URL, as in :meth:`enable_sync_target`.
            target_namespace (str): the namespace on the target server.

        Returns:
            list[dict]: the namespace's targets afterwards.

        Raises:
            PermissionDeniedError: when you are not a platform admin.
            NotFoundError: when there is no such target.

        Example:
            >>> conn.get_namespace("default").disable_sync_target("https://cloud.example:8181/api/v1", "default")  # doctest: +SKIP
        """
        return list(
            self._storage._rest.delete(
                f"/namespaces/{self.name}/sync-targets",
                params={"target_core_service": target_core_service, "target_namespace": target_namespace},
            )
        )


@dataclass(frozen=True)
class Permission:
    """One grant on a dataset: to a user or to a project's members (a group).

    Attributes:
        user (str | None): the user granted to (None for a project grant).
        project (str | None): the project whose members are granted to (None for a user grant).
        access (str): ``"r"`` or ``"rw"``.

    Example:
        >>> ds.permissions  # doctest: +SKIP
        [Permission(user=None, project='fraud', access='rw'), Permission(user='bob', project=None, access='r')]
    """

    user: str | None
    project: str | None
    access: str


class Dataset:
    """A named prefix in a namespace, with an owner and permissions; ``ds / "a" / "b.csv"`` makes a
    :class:`~larder.storage.ref.DatasetRef`.

    Attributes:
        namespace (Namespace): where it lives.
        name (str): the dataset name.
        description (str): what it holds.
        owner (str): the user who owns it.
        project (str | None): the project it belongs to (a project's own datasets), else None.
        created_at (datetime | None): when it was created, UTC.
        access (str): your access, ``"r"`` or ``"rw"``.
        permissions (list[Permission]): the grants.
        sync_type (str | None): ``"simplex"`` or ``"duplex"`` while it syncs to its namespace's
            targets, else None.
        sync_policy (dict | None): which changes sync (None: everything).

    Example:
        >>> ds = conn.get_namespace("default").create_dataset("raw_events")  # doctest: +SKIP
        >>> (ds / "2024" / "day1.csv").write_text("user,page\\nalice,/home\\n")  # doctest: +SKIP
        >>> ds.set_group_permission("fraud", "r")  # doctest: +SKIP
    """

    def __init__(self, namespace: Namespace, info: dict[str, Any]) -> None:
        self.namespace = namespace
        self._storage = namespace._storage
        self._load(info)

    def _load(self, info: dict[str, Any]) -> None:
        self.name: str = info["name"]
        self.description: str = info.get("description", "")
        self.owner: str = info.get("owner", "")
        self.project: str | None = info.get("project")
        self.created_at = _ts(info["created_at"]) if info.get("created_at") else None
        self.access: str = info.get("access", "r")
        self.permissions = [Permission(**p) for p in info.get("permissions", [])]
        self.sync_type: str | None = info.get("sync_type")
        self.sync_policy: dict[str, Any] | None = info.get("sync_policy")

    def __repr__(self) -> str:
        return f"Dataset({self.namespace.name!r}/{self.name!r}, access={self.access!r})"

    def __truediv__(self, key: str) -> DatasetRef:
        return DatasetRef(self, "") / key

    @property
    def root(self) -> DatasetRef:
        """The dataset's top folder as a :class:`DatasetRef`."""
        return DatasetRef(self, "")

    def iterdir(self) -> Iterator[DatasetRef]:
        """The objects and folders at the dataset's top (Hoss's ``ds.iterdir()``; ``ds.root.iterdir()``).

        Returns:
            Iterator[DatasetRef]: one ref per object or folder.

        Example:
            >>> [p.name for p in ds.iterdir()]  # doctest: +SKIP
            ['2024', 'readme.txt']
        """
        return self.root.iterdir()

    def glob(self, pattern: str) -> Iterator[DatasetRef]:
        """Objects whose path in the dataset matches a pattern (Hoss's ``ds.glob()``; see
        :meth:`DatasetRef.glob`).

        Args:
            pattern (str): e.g. ``"2024/*.csv"`` or ``"**/*.csv"``.

        Returns:
            Iterator[DatasetRef]: the matching objects.

        Example:
            >>> [p.key for p in ds.glob("2024/*.csv")]  # doctest: +SKIP
            ['2024/day1.csv', '2024/day2.csv']
        """
        return self.root.glob(pattern)

    def _backend(self) -> LocalBackend | S3Backend:
        backend, _ = self._storage.backend(self.namespace.name, [self.name])
        return backend

    def _require_write(self, what: str) -> None:
        if self.access != "rw":
            raise PermissionDeniedError(
                f"You may only read dataset '{self.name}' in namespace '{self.namespace.name}' and cannot "
                f"{what}; ask its owner for 'rw' permission.",
                details={"namespace": self.namespace.name, "dataset": self.name, "access": self.access},
            )

    @property
    def uri(self) -> str:
        """Where the dataset lives: ``s3://bucket/<dataset>`` or ``file:///...`` (for other tools)."""
        return self._backend().uri(self.name)

    def set_user_permission(self, user: str, access: str | None) -> None:
        """Grant ``"r"`` or ``"rw"`` to a user, or remove the grant (owner or admin).

        Args:
            user (str): the user name.
            access (str | None): ``"r"``, ``"rw"``, or None to remove the user's grant.

        Raises:
            InvalidArgumentError: on another access value.
            NotFoundError: on an unknown user.
            PermissionDeniedError: when you do not own the dataset.

        Example:
            >>> ds.set_user_permission("bob", "r")  # doctest: +SKIP
        """
        self._set_permission({"user": user, "access": access})

    def set_group_permission(self, project: str, access: str | None) -> None:
        """Grant ``"r"`` or ``"rw"`` to every member of a project (a group), or remove the grant.

        Args:
            project (str): the project name.
            access (str | None): ``"r"``, ``"rw"``, or None to remove the project's grant.

        Raises:
            InvalidArgumentError: on another access value.
            NotFoundError: on an unknown project.
            PermissionDeniedError: when you do not own the dataset.

        Example:
            >>> ds.set_group_permission("fraud", "rw")  # doctest: +SKIP
        """
        self._set_permission({"project": project, "access": access})

    def _set_permission(self, body: dict[str, Any]) -> None:
        info = self._storage._rest.put(
            f"/namespaces/{self.namespace.name}/datasets/{self.name}/permissions", body
        )
        self._load(info)

    # --- sync (Hoss: Dataset.enable_sync / disable_sync / sync_type) ----------------------------

    def enable_sync(
        self, sync_type: str = "simplex", sync_policy: dict[str, Any] | str | None = None
    ) -> None:
        """Sync this dataset to its namespace's targets (owner or admin): what it holds now is
        copied there (back-fill), then every write and delete made here (and, duplex, there).

        The dataset is created on each target with the same name, owned by the user of the same
        name there (else the link's identity), with the grants whose users and projects exist
        there. Writes arriving on a simplex target are kept there and never sent back.

        Args:
            sync_type (str): ``"simplex"`` (1-way, default) or ``"duplex"`` (2-way; needs a duplex
                namespace target, and the target's namespace targeting this one back).
            sync_policy (dict | str | None): which changes sync, as Hoss's sync policies
                (``{"Version": "1", "Effect": "OR", "Statements": [{"Id": ..., "Conditions":
                [{"Left": "object:key", "Operator": "!=", "Right": "*.raw"}]}]}``, or its JSON);
                default None: everything.

        Raises:
            ConflictError: when the namespace has no sync target, duplex on a simplex target, or
                the target has no duplex target back.
            InvalidArgumentError: a bad sync type or policy (the message names the statement).
            PermissionDeniedError: when you are neither the owner nor an admin.

        Example:
            >>> ds = conn.get_namespace("default").get_dataset("raw_events")  # doctest: +SKIP
            >>> ds.enable_sync("duplex")  # doctest: +SKIP
        """
        if isinstance(sync_policy, str):
            try:
                sync_policy = json.loads(sync_policy)
            except json.JSONDecodeError as e:
                raise InvalidArgumentError(
                    f"sync_policy is not JSON: {e.msg} at character {e.pos}."
                ) from None
        info = self._storage._rest.put(
            f"/namespaces/{self.namespace.name}/datasets/{self.name}/sync",
            {"sync_type": sync_type, "sync_policy": sync_policy},
        )
        self._load(info)

    def disable_sync(self) -> None:
        """Stop syncing this dataset (owner or admin); changes not yet sent are dropped, what the
        targets hold stays there. A duplex dataset stops syncing back too.

        Example:
            >>> ds.disable_sync()  # doctest: +SKIP
        """
        info = self._storage._rest.delete(f"/namespaces/{self.namespace.name}/datasets/{self.name}/sync")
        self._load(info)

    def is_sync_enabled(self) -> bool:
        """Whether this dataset sends its changes to sync targets (as of when it was loaded).

        Example:
            >>> ds.is_sync_enabled()  # doctest: +SKIP
            True
        """
        return self.sync_type is not None

    def sync_status(self) -> dict[str, Any]:
        """Where this dataset's sync stands, now.

        Returns:
            dict: ``state`` (``"disabled"``, ``"idle"``, ``"syncing"`` or ``"error"``), ``pending``
            (changes not yet applied by a target), ``lag_seconds`` (since the oldest of them was
            recorded), ``backfill_pending`` (True until what the dataset held when sync was enabled
            has been compared and queued), ``conflicts`` (keys written on both sides before either synced) and
            ``recent_conflicts``, ``source`` (where it receives changes from) and ``targets``: per
            target its ``pending``, ``failed``, ``copied``, ``copied_bytes``, ``deleted``,
            ``last_error``, ``last_success_at``, ``last_reconciled_at`` and ``last_reconciliation``
            (what it found and repaired).

        Example:
            >>> ds.sync_status()["pending"]  # doctest: +SKIP
            0
        """
        return dict(self._storage._rest.get(f"/namespaces/{self.namespace.name}/datasets/{self.name}/sync"))

    def reconcile(
        self, checksum: bool = False, wait: bool = True, timeout: float = 600.0
    ) -> list[dict[str, Any]]:
        """Compare this dataset with its copy on each target now and repair what differs: objects
        written to the bucket past Larder, copies lost, changed or (``checksum``) corrupted there,
        deletes made past Larder. The server also does this every
        ``sync_reconcile_interval_seconds``.

        Args:
            checksum (bool): also compare the SHA-256 of every copy's bytes with what was sent
                (reads every object on the target; the dataset's owner or an admin only; default
                False: sizes and etags, for anyone with ``rw``).
            wait (bool): wait until the repairs are applied (default True).
            timeout (float): how long to wait, seconds (default 600).

        Returns:
            list[dict]: one report per target: ``checked``, ``missing``, ``changed``,
            ``lost_on_target``, ``changed_on_target``, ``corrupt``, ``deleted``, ``repaired``,
            ``seconds``.

        Raises:
            TimeoutError: when ``wait`` and the repairs are not applied within ``timeout``.
            PermissionDeniedError: with read-only access, or ``checksum=True`` from neither the
                owner nor an admin.

        Example:
            >>> ds.reconcile(checksum=True)[0]["repaired"]  # doctest: +SKIP
            1
        """
        out = self._storage._rest.post(
            f"/namespaces/{self.namespace.name}/datasets/{self.name}/sync/reconcile", {"checksum": checksum}
        )
        if wait:
            self.wait_for_sync(timeout)
        return list(out["reports"])

    def wait_for_sync(self, timeout: float = 600.0, poll: float = 0.2) -> dict[str, Any]:
        """Wait until no change of this dataset is pending on any target (and the back-fill of a
        newly enabled sync has been queued and sent).

        Args:
            timeout (float): seconds (default 600).
            poll (float): seconds between two looks (default 0.2).

        Returns:
            dict: the final :meth:`sync_status`.

        Raises:
            TimeoutError: naming what is still pending and the last error.

        Example:
            >>> (ds / "a.csv").write_text("x"); ds.wait_for_sync(60)  # doctest: +SKIP
        """
        deadline = time.monotonic() + timeout
        while True:
            st = self.sync_status()
            if st["pending"] == 0 and not st.get("backfill_pending"):
                return st
            if time.monotonic() > deadline:
                errors = [t["last_error"] for t in st["targets"] if t.get("last_error")]
                raise TimeoutError(
                    f"{st['pending']} change(s) of dataset '{self.name}' still pending after {timeout:.0f} s"
                    + (f"; last error: {errors[0]}" if errors else "")
                )
            time.sleep(poll)

    def delete(self) -> None:
        """Delete this dataset and its objects (owner or admin); see :meth:`Namespace.delete_dataset`.

        Example:
            >>> ds.delete()  # doctest: +SKIP
        """
        self.namespace.delete_dataset(self.name)

    def storage_options(self) -> dict[str, str]:
        """Options for deltalake/polars/pyarrow to reach this dataset directly (``uri`` + these).

        For S3 stores they hold short-lived vended credentials (secrets: don't log them); call again
        after they expire. For local stores they are empty (use :attr:`uri`).

        Returns:
            dict[str, str]: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
            ``AWS_REGION`` and, for a custom endpoint, ``AWS_ENDPOINT_URL``; ``{}`` for local stores.

        Example:
            >>> import deltalake                                     # doctest: +SKIP
            >>> deltalake.write_deltalake(f"{ds.uri}/t", table, storage_options=ds.storage_options())  # doctest: +SKIP
        """
        creds = self._storage.reusable_credentials(self.namespace.name, [self.name])
        if creds.type == "local":
            return {}
        opts = {
            "AWS_ACCESS_KEY_ID": creds.access_key_id or "",
            "AWS_SECRET_ACCESS_KEY": creds.secret_access_key or "",
            "AWS_SESSION_TOKEN": creds.session_token or "",
            "AWS_REGION": creds.region or "us-east-1",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }
        if creds.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = creds.endpoint_url
            if creds.endpoint_url.startswith("http://"):
                opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    def filesystem(self) -> Any:
        """A ``pyarrow.fs`` filesystem rooted at this dataset (needs ``pip install 'larder-platform[python]'``).

        Paths are relative to the dataset. On a local store, create folders before writing into them
        (``fs.create_dir("tables", recursive=True)``).

        Returns:
            pyarrow.fs.FileSystem: a ``SubTreeFileSystem`` over the local directory or the S3 bucket.

        Raises:
            ConfigurationError: when pyarrow is not installed.

        Example:
            >>> import pyarrow.parquet as pq  # doctest: +SKIP
            >>> pq.write_table(table, "clicks.parquet", filesystem=ds.filesystem())  # doctest: +SKIP
        """
        try:
            from pyarrow import fs
        except ImportError as e:
            raise ConfigurationError(
                "filesystem() needs pyarrow: pip install 'larder-platform[python]'."
            ) from e
        creds = self._storage.reusable_credentials(self.namespace.name, [self.name])
        if creds.type == "local":
            assert creds.paths is not None
            return fs.SubTreeFileSystem(creds.paths[self.name], fs.LocalFileSystem())
        endpoint = creds.endpoint_url or ""
        scheme = "http" if endpoint.startswith("http://") else "https"
        s3 = fs.S3FileSystem(
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            session_token=creds.session_token,
            region=creds.region or "us-east-1",
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme=scheme,
        )
        return fs.SubTreeFileSystem(f"{creds.bucket}/{self.name}", s3)
