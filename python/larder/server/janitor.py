"""The janitor: what killed writers left in the object stores, removed by age.

A dataset write on a local store goes to a hidden ``.larder-<random>.part`` file beside its target,
renamed into place when complete; a killed writer leaves it (hundreds of MB for a large upload).
On S3 a killed multipart upload leaves its parts, invisible and billed. Every
``janitor_interval_seconds`` the server removes part files not written to for
``stale_upload_seconds`` (default one hour: a live upload writes to its file continuously) and
aborts multipart uploads started more than a day ago (a live one may take hours). ``larder server
gc`` runs the same sweep on demand.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from larder.server import storage_backend
from larder.server.db.models import Namespace
from larder.server.security.secretbox import SecretBox
from larder.storage.backends import TMP_PREFIX

log = logging.getLogger("larder.server.janitor")

MULTIPART_STALE = timedelta(days=1)


@dataclass
class Swept:
    """What a sweep removed: part files (and their bytes) and aborted multipart uploads."""

    part_files: int = 0
    part_bytes: int = 0
    multipart_uploads: int = 0
    errors: list[str] = field(default_factory=list)


def _sweep_local(root: Path, older_than_s: float, out: Swept) -> None:
    cutoff = time.time() - older_than_s
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not (name.startswith(TMP_PREFIX) and name.endswith(".part")):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
                if st.st_mtime < cutoff:
                    os.unlink(path)
                    out.part_files += 1
                    out.part_bytes += st.st_size
            except FileNotFoundError:  # its writer finished (or another sweep took it) meanwhile
                continue


def _sweep_s3(ns: Namespace, box: SecretBox, out: Swept) -> None:
    client = storage_backend.s3_client(ns.object_store, box)
    cutoff = datetime.now(timezone.utc) - MULTIPART_STALE
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=ns.bucket):
        for up in page.get("Uploads", []):
            if up["Initiated"] < cutoff:
                client.abort_multipart_upload(Bucket=ns.bucket, Key=up["Key"], UploadId=up["UploadId"])
                out.multipart_uploads += 1


def sweep(db: Session, box: SecretBox, older_than_s: float) -> Swept:
    """Remove stale part files from every local namespace and abort stale multipart uploads in every
    S3 namespace. One store's failure (a store that cannot be reached) is logged and skipped."""
    out = Swept()
    for ns in db.scalars(select(Namespace).order_by(Namespace.name)):
        try:
            if ns.object_store.type == "local":
                root = storage_backend.local_root(ns)
                if root.is_dir():
                    _sweep_local(root, older_than_s, out)
            else:
                _sweep_s3(ns, box, out)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            out.errors.append(f"{ns.name}: {type(e).__name__}")
            log.warning("janitor: namespace %s: %s", ns.name, e)
    if out.part_files or out.multipart_uploads:
        log.info(
            "janitor: removed %d stale part file(s) (%d bytes), aborted %d multipart upload(s)",
            out.part_files,
            out.part_bytes,
            out.multipart_uploads,
        )
    return out


class Janitor:
    """The server thread that runs :func:`sweep` every ``interval_s`` seconds (the first a minute
    after start, or sooner for short intervals)."""

    def __init__(
        self, session_factory: Callable[[], Session], box: SecretBox, interval_s: float, older_than_s: float
    ) -> None:
        self._session_factory = session_factory
        self._box = box
        self.interval_s = interval_s
        self.older_than_s = older_than_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="larder-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        wait = min(60.0, self.interval_s)
        while not self._stop.wait(wait):
            wait = self.interval_s
            try:
                with self._session_factory() as db:
                    sweep(db, self._box, self.older_than_s)
            except Exception:
                log.exception("janitor sweep failed")
