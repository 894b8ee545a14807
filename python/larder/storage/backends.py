"""Direct object-store access for the client: a local directory or S3, behind one small interface.

Keys here are namespace-relative (``<dataset>/<key>``). Writes are atomic: a local write goes to a
hidden ``.larder-*`` file that is renamed into place; an S3 write is a single PUT or a multipart
upload that becomes visible only when completed (and is aborted on failure). Readers never see a
half-written object.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, BinaryIO

from larder.errors import NotFoundError, PermissionDeniedError

CHUNK = 8 * 1024 * 1024  # bytes per streamed chunk / multipart part
TMP_PREFIX = ".larder-"
# A folder ``<parent>/<child>`` is not listed while ``<parent>/.larder-pending-<child>`` exists:
# what a writer puts in place before it writes a folder that must appear whole or not at all (a
# model version being saved), and removes when the folder is complete.
PENDING_PREFIX = ".larder-pending-"


def pending_marker(folder_key: str) -> str:
    """The key of the marker that hides ``folder_key`` from listings (see :data:`PENDING_PREFIX`)."""
    parent, _, child = folder_key.rstrip("/").rpartition("/")
    return f"{parent}/{PENDING_PREFIX}{child}" if parent else f"{PENDING_PREFIX}{child}"


def _pending_children(names: Iterable[str]) -> set[str]:
    return {n[len(PENDING_PREFIX) :] for n in names if n.startswith(PENDING_PREFIX)}


Progress = Callable[[int], None]


@dataclass(frozen=True)
class ObjectInfo:
    """What a store says about one object."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One child in a listing: an object (with its info) or a folder (``info`` is None)."""

    key: str
    is_dir: bool
    info: ObjectInfo | None = None


def _under(key: str, folders: set[str]) -> bool:
    """Whether ``key`` is inside one of ``folders`` (folder keys, no trailing '/')."""
    if not folders:
        return False
    parts = key.split("/")
    return any("/".join(parts[:i]) in folders for i in range(1, len(parts)))


def _not_found(key: str) -> NotFoundError:
    return NotFoundError(f"No object at '{key}'.", details={"key": key})


def _copy_stream(src: IO[bytes], dst: Any, progress: Progress | None) -> int:
    total = 0
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            return total
        dst.write(chunk)
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))


class LocalBackend:
    """Datasets of a namespace folder on this host (``local`` object stores).

    It reaches only the datasets whose folders the server vended (``paths``: dataset name ->
    absolute folder); a key of any other dataset is refused before touching the disk.
    """

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = {name: Path(p) for name, p in paths.items()}

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def path(self, key: str) -> Path:
        dataset, _, rest = key.partition("/")
        base = self.paths.get(dataset)
        if base is None:
            raise PermissionDeniedError(
                f"No access to dataset '{dataset}' was vended for this operation; open it with "
                "namespace.get_dataset(name) first.",
                details={"dataset": dataset},
            )
        return base / rest if rest else base

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
            last_modified=datetime.fromtimestamp(st.st_mtime, timezone.utc),
        )

    def head(self, key: str) -> ObjectInfo | None:
        try:
            st = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return self._info(key, st) if os.path.isfile(self.path(key)) else None

    def is_dir(self, key: str) -> bool:
        return self.path(key).is_dir()

    def list(self, prefix: str, recursive: bool) -> Iterator[Entry]:
        base = self.path(prefix)
        if not base.is_dir():
            return
        if recursive:
            for dirpath, dirnames, filenames in os.walk(base):
                pending = _pending_children(filenames)
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(TMP_PREFIX) and d not in pending)
                rel = Path(dirpath).relative_to(self.path(prefix.split("/", 1)[0])).as_posix()
                rel_dir = prefix.split("/", 1)[0] + ("" if rel == "." else f"/{rel}")
                for name in sorted(filenames):
                    if name.startswith(TMP_PREFIX):
                        continue
                    key = f"{rel_dir}/{name}"
                    yield Entry(key, False, self._info(key, os.stat(os.path.join(dirpath, name))))
            return
        with os.scandir(base) as it:
            entries = sorted(it, key=lambda e: e.name)
        pending = _pending_children(e.name for e in entries)
        for e in entries:
            if e.name.startswith(TMP_PREFIX) or (e.name in pending and e.is_dir()):
                continue
            key = f"{prefix.rstrip('/')}/{e.name}"
            if e.is_dir():
                yield Entry(key, True)
            else:
                yield Entry(key, False, self._info(key, e.stat()))

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")  # noqa: SIM115 - the caller closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _not_found(key) from None

    def open_write(self, key: str, metadata: dict[str, str]) -> AtomicLocalWriter:
        return AtomicLocalWriter(self.path(key))

    def upload_file(
        self, local: Path, key: str, metadata: dict[str, str], progress: Progress | None
    ) -> ObjectInfo:
        with self.open_write(key, metadata) as w:
            if progress is None:
                w.close_into(lambda tmp: shutil.copyfile(local, tmp))
            else:
                with open(local, "rb") as src:
                    _copy_stream(src, w, progress)
        info = self.head(key)
        assert info is not None
        return info

    def download_file(self, key: str, local: Path, progress: Progress | None) -> None:
        src = self.path(key)
        if not src.is_file():
            raise _not_found(key)
        with AtomicLocalWriter(local) as w:
            if progress is None:
                w.close_into(lambda tmp: shutil.copyfile(src, tmp))
            else:
                with open(src, "rb") as f:
                    _copy_stream(f, w, progress)

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except (FileNotFoundError, IsADirectoryError):
            raise _not_found(key) from None

    def copy(self, src_key: str, dst_key: str, metadata: dict[str, str]) -> None:
        src = self.path(src_key)
        if not src.is_file():
            raise _not_found(src_key)
        with AtomicLocalWriter(self.path(dst_key)) as w:
            w.close_into(lambda tmp: shutil.copyfile(src, tmp))

    def move(self, src_key: str, dst_key: str, metadata: dict[str, str]) -> None:
        src = self.path(src_key)
        if not src.is_file():
            raise _not_found(src_key)
        dst = self.path(dst_key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


class _AtomicWriter(io.RawIOBase):
    """A write-only stream that becomes visible only on a clean close.

    Subclasses implement ``_commit`` (make the data visible) and ``_abort`` (discard it). An
    exception inside its ``with`` block, or dropping it unclosed, aborts; ``on_commit`` runs after
    a successful commit.
    """

    def __init__(self) -> None:
        super().__init__()
        self._done = False
        self.on_commit: Callable[[], None] | None = None

    def writable(self) -> bool:
        return True

    def _commit(self) -> None:
        raise NotImplementedError

    def _abort(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        if self._done:
            return
        try:
            self._commit()
        except BaseException:
            self.abort()
            raise
        self._done = True
        if self.on_commit is not None:
            self.on_commit()

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._abort()

    def close(self) -> None:
        if not self.closed:
            if not self._done:
                self.commit()
            super().close()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        super().__exit__(exc_type, exc, tb)

    def __del__(self) -> None:
        # A writer dropped without close() is abandoned, never committed half-written.
        if not getattr(self, "_done", True):
            with contextlib.suppress(Exception):
                self.abort()


class AtomicLocalWriter(_AtomicWriter):
    """Writes to a hidden temp file beside the target; renames it into place on a clean close.

    The temp file is created on the first write (or by ``close_into``'s filler), never pre-created
    and then truncated: on ext4, re-opening an existing file with ``O_TRUNC`` and rewriting it makes
    the kernel flush its data at close (the ``auto_da_alloc`` heuristic), which halved the speed of
    1 GiB copies here.
    """

    def __init__(self, target: Path) -> None:
        super().__init__()
        self.target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = target.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}.part"
        self._f: BinaryIO | None = None

    def write(self, b: Any) -> int:
        if self._f is None:
            self._f = open(self.tmp, "xb")  # noqa: SIM115 - closed by commit/abort
        return self._f.write(b)

    def close_into(self, fill: Callable[[Path], Any]) -> None:
        """Let ``fill(tmp_path)`` create and write the temp file (e.g. a fast ``copyfile``), then
        commit on close."""
        if self._f is not None:
            raise RuntimeError("close_into() after write()")
        fill(self.tmp)

    def _commit(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        elif not self.tmp.exists():
            open(self.tmp, "xb").close()  # nothing was written: an empty object
        os.replace(self.tmp, self.target)

    def _abort(self) -> None:
        if self._f is not None:
            self._f.close()
        self.tmp.unlink(missing_ok=True)


class S3Backend:
    """A namespace bucket on an S3-compatible store, reached with vended, self-renewing credentials."""

    def __init__(self, bucket: str, client: Callable[[], Any], endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self._client = client
        self.endpoint_url = endpoint_url

    @property
    def s3(self) -> Any:
        return self._client()

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(multipart_threshold=CHUNK, multipart_chunksize=CHUNK * 2, max_concurrency=8)

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            r = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(
            key, r["ContentLength"], r["ETag"].strip('"'), r["LastModified"], r.get("Metadata", {})
        )

    def is_dir(self, key: str) -> bool:
        r = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key.rstrip("/") + "/", MaxKeys=1)
        return r.get("KeyCount", 0) > 0

    def list(self, prefix: str, recursive: bool) -> Iterator[Entry]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix.rstrip("/") + "/"}
        if not recursive:
            kwargs["Delimiter"] = "/"
        # S3 lists in key order, so a marker (".larder-pending-<child>", '.' sorts before digits and
        # letters) comes before the folder it hides; a page holds both a folder and the keys at its level
        pending: set[str] = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(**kwargs):
            contents = page.get("Contents", [])
            for o in contents:
                parent, _, name = o["Key"].rpartition("/")
                if name.startswith(PENDING_PREFIX):
                    pending.add(f"{parent}/{name[len(PENDING_PREFIX) :]}")
            for cp in page.get("CommonPrefixes", []):
                if cp["Prefix"].rstrip("/") not in pending:
                    yield Entry(cp["Prefix"].rstrip("/"), True)
            for o in contents:
                key = o["Key"]
                if key.rpartition("/")[2].startswith(TMP_PREFIX) or _under(key, pending):
                    continue
                info = ObjectInfo(key, o["Size"], o["ETag"].strip('"'), o["LastModified"])
                yield Entry(key, False, info)

    def open_read(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise _not_found(key) from None
            raise
        return io.BufferedReader(_StreamingRaw(body), buffer_size=CHUNK)

    def open_write(self, key: str, metadata: dict[str, str]) -> S3MultipartWriter:
        return S3MultipartWriter(self, key, metadata)

    def upload_file(
        self, local: Path, key: str, metadata: dict[str, str], progress: Progress | None
    ) -> ObjectInfo:
        self.s3.upload_file(
            str(local),
            self.bucket,
            key,
            ExtraArgs={"Metadata": metadata},
            Config=self._transfer_config(),
            Callback=progress,
        )
        info = self.head(key)
        assert info is not None
        return info

    def download_file(self, key: str, local: Path, progress: Progress | None) -> None:
        if self.head(key) is None:
            raise _not_found(key)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}.part"
        try:
            self.s3.download_file(
                self.bucket, key, str(tmp), Config=self._transfer_config(), Callback=progress
            )
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        if self.head(key) is None:
            raise _not_found(key)
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, src_key: str, dst_key: str, metadata: dict[str, str]) -> None:
        if self.head(src_key) is None:
            raise _not_found(src_key)
        self.s3.copy(
            {"Bucket": self.bucket, "Key": src_key},
            self.bucket,
            dst_key,
            ExtraArgs={"Metadata": metadata, "MetadataDirective": "REPLACE"},
            Config=self._transfer_config(),
        )

    def move(self, src_key: str, dst_key: str, metadata: dict[str, str]) -> None:
        self.copy(src_key, dst_key, metadata)
        self.s3.delete_object(Bucket=self.bucket, Key=src_key)


class _StreamingRaw(io.RawIOBase):
    """A raw, readable view of a botocore StreamingBody (so reads stream, never buffer whole)."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._body.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
            super().close()


class S3MultipartWriter(_AtomicWriter):
    """Streams writes as multipart parts; completes on a clean close, aborts on an exception."""

    def __init__(self, backend: S3Backend, key: str, metadata: dict[str, str]) -> None:
        super().__init__()
        self._b = backend
        self.key = key
        self.metadata = metadata
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, b: Any) -> int:
        self._buf += b
        while len(self._buf) >= CHUNK:
            self._flush_part(bytes(self._buf[:CHUNK]))
            del self._buf[:CHUNK]
        return len(b)

    def _flush_part(self, data: bytes) -> None:
        s3 = self._b.s3
        if self._upload_id is None:
            r = s3.create_multipart_upload(Bucket=self._b.bucket, Key=self.key, Metadata=self.metadata)
            self._upload_id = r["UploadId"]
        n = len(self._parts) + 1
        r = s3.upload_part(
            Bucket=self._b.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=n, Body=data
        )
        self._parts.append({"PartNumber": n, "ETag": r["ETag"]})

    def _commit(self) -> None:
        s3 = self._b.s3
        if self._upload_id is None:
            s3.put_object(Bucket=self._b.bucket, Key=self.key, Body=bytes(self._buf), Metadata=self.metadata)
        else:
            if self._buf:
                self._flush_part(bytes(self._buf))
            s3.complete_multipart_upload(
                Bucket=self._b.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buf.clear()

    def _abort(self) -> None:
        self._buf.clear()
        if self._upload_id is not None:
            self._b.s3.abort_multipart_upload(Bucket=self._b.bucket, Key=self.key, UploadId=self._upload_id)
