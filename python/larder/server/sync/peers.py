"""Talking to a sync target: its REST API with the credential this server keeps for it, and its
object store with the short-lived credentials it vends (the same client code users run)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from larder.server.db.models import SyncPeer
from larder.server.security.secretbox import SecretBox
from larder.server.sync.service import STAGING_PREFIX
from larder.storage.backends import CHUNK, ObjectInfo

SYNC_TIMEOUT_S = 120.0


class Peer:
    """One target server: an authenticated REST client and vended access to its datasets.

    Args:
        url (str): the server's base URL (``https://host:port``).
        api_key (str): the key this server uses there (exchanged for tokens at the auth service
            that server names). Never logged.
        ca_pem (str): the PEM bundle that verifies it ("" for the public CAs).
    """

    def __init__(self, url: str, api_key: str, ca_pem: str) -> None:
        from larder.client.auth import authenticate, discover
        from larder.client.rest import RestClient
        from larder.storage.namespace import Storage

        self.url = url
        verify: bool | str = True
        if ca_pem:  # a public certificate, no secret: kept in a file named by its content
            digest = hashlib.sha256(ca_pem.encode()).hexdigest()[:24]
            path = os.path.join(tempfile.gettempdir(), f"larder-sync-ca-{digest}.pem")
            if not os.path.isfile(path):
                fd, tmp = tempfile.mkstemp(prefix="larder-sync-ca-", suffix=".tmp")
                with os.fdopen(fd, "w") as f:
                    f.write(ca_pem)
                os.replace(tmp, path)
            verify = path
        self.client = RestClient(url, None, verify=verify, timeout=SYNC_TIMEOUT_S, retries=1)
        info = discover(self.client)
        self.auth = authenticate(self.client, info, api_key, None, verify)
        self.storage = Storage(self.client)

    def __repr__(self) -> str:
        return f"Peer({self.url!r})"

    def close(self) -> None:
        self.client.close()

    def backend(self, namespace: str, dataset: str) -> Any:
        return self.storage.backend(namespace, [dataset])[0]

    def stage(self, namespace: str, dataset: str, src: Any, name: str = "") -> tuple[str, int, str]:
        """Upload ``src`` (a binary stream) to a hidden staging key of the target dataset.

        Args:
            name (str): the staging name (default: a random one). The worker names a change's
                staging after the change, so that a retry replaces what an interrupted attempt left.

        Returns:
            (staged_key, bytes, sha256 hex) — the staged key relative to the dataset.
        """
        staged = f"{STAGING_PREFIX}{name or uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        with self.backend(namespace, dataset).open_write(f"{dataset}/{staged}", {}) as w:
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                w.write(chunk)
        return staged, size, digest.hexdigest()

    def unstage(self, namespace: str, dataset: str, staged: str) -> None:
        """Remove a staged upload that will not be applied (best effort)."""
        with contextlib.suppress(Exception):
            self.backend(namespace, dataset).delete(f"{dataset}/{staged}")

    def apply(self, namespace: str, dataset: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.post(f"/namespaces/{namespace}/datasets/{dataset}/sync/apply", body))

    def accept(self, namespace: str, dataset: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.post(f"/namespaces/{namespace}/datasets/{dataset}/sync/accept", body))

    def release(self, namespace: str, dataset: str, origin: str) -> None:
        self.client.post(f"/namespaces/{namespace}/datasets/{dataset}/sync/release", {"origin": origin})

    def check_namespace(self, namespace: str) -> None:
        self.client.get(f"/namespaces/{namespace}")

    def list(self, namespace: str, dataset: str) -> Iterator[ObjectInfo]:
        for e in self.backend(namespace, dataset).list(dataset, recursive=True):
            if not e.is_dir and e.info is not None:
                yield e.info

    def sha256(self, namespace: str, dataset: str, full_key: str) -> str:
        digest = hashlib.sha256()
        with self.backend(namespace, dataset).open_read(full_key) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


class Peers:
    """The open peers of a worker, by URL, opened on first use and re-opened after a failure."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._lock = threading.Lock()
        self._open: dict[str, tuple[str, Peer]] = {}

    def get(self, peer: SyncPeer) -> Peer:
        """The open peer for a credential (opened once; the worker's threads share it)."""
        stamp = f"{peer.api_key_enc}|{peer.ca_pem}"
        with self._lock:
            cached = self._open.get(peer.url)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            opened = Peer(peer.url, self._box.decrypt(peer.api_key_enc), peer.ca_pem)
            self._open[peer.url] = (stamp, opened)
            return opened

    def drop(self, url: str) -> None:
        """Forget a peer (after a failure): the next use opens it again. Threads still using the
        old one finish with it; it is closed when they let it go."""
        with self._lock:
            self._open.pop(url, None)

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for _, p in opened:
            p.close()
