"""``DatasetRef``: a pathlib-like path to an object (or folder) inside a dataset.

Reads and writes go directly to the object store with vended credentials; the server only indexes
what was written (size, etag, user metadata) so that ``conn.search(metadata=...)`` finds it.

Example:
    >>> ref = ds / "raw" / "2024.csv"                          # doctest: +SKIP
    >>> ref.write_text("a,b\\n1,2\\n", metadata={"source": "crm"})  # doctest: +SKIP
    >>> [p.name for p in (ds / "raw").iterdir()]                # doctest: +SKIP
    ['2024.csv']
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from larder.errors import InvalidArgumentError, NotFoundError
from larder.names import check_object_key
from larder.storage.backends import ObjectInfo

if TYPE_CHECKING:
    from larder.storage.namespace import Dataset


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay inside one segment; ``**`` spans any number of segments."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


class DatasetRef:
    """A path inside a dataset: ``ds / "raw" / "2024.csv"``.

    Keys are validated when the ref is made (no ``..``, absolute paths, control characters, or keys
    over 1024 bytes), before any storage is touched.

    Attributes:
        dataset (Dataset): the dataset it lives in.
        key (str): the path inside the dataset (``""`` for the dataset's top folder).

    Raises:
        larder.errors.InvalidArgumentError: on an invalid key (see :func:`larder.names.check_object_key`).

    Example:
        >>> ref = ds / "raw" / "2024.csv"  # doctest: +SKIP
        >>> ref.write_text("a,b\\n1,2\\n", metadata={"source": "crm"})  # doctest: +SKIP
        >>> ref.name, ref.suffix, ref.parent.key  # doctest: +SKIP
        ('2024.csv', '.csv', 'raw')
    """

    def __init__(self, dataset: Dataset, key: str) -> None:
        self.dataset = dataset
        self.key = check_object_key(key, allow_empty=True)

    # --- pathlib-like naming -------------------------------------------------------------------

    def __truediv__(self, other: str) -> DatasetRef:
        if not isinstance(other, str):
            raise InvalidArgumentError(f"Join a DatasetRef with a string, not {type(other).__name__}.")
        if other.startswith("/"):
            raise InvalidArgumentError(
                f"Invalid object key {other!r}: absolute paths are not allowed; use a path relative to the dataset.",
                details={"key": other},
            )
        return DatasetRef(self.dataset, f"{self.key}/{other}" if self.key else other)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DatasetRef)
            and other.key == self.key
            and other.dataset.name == self.dataset.name
            and other.dataset.namespace.name == self.dataset.namespace.name
        )

    def __hash__(self) -> int:
        return hash((self.dataset.namespace.name, self.dataset.name, self.key))

    def __repr__(self) -> str:
        return f"DatasetRef('{self.dataset.namespace.name}/{self.dataset.name}/{self.key}')"

    def __str__(self) -> str:
        return f"{self.dataset.namespace.name}/{self.dataset.name}/{self.key}"

    @property
    def name(self) -> str:
        """The last path segment (``"2024.csv"``)."""
        return posixpath.basename(self.key)

    @property
    def suffix(self) -> str:
        """The file extension with its dot (``".csv"``), or ``""``."""
        return posixpath.splitext(self.name)[1]

    @property
    def parent(self) -> DatasetRef:
        """The containing folder (the dataset's top folder's parent is itself)."""
        return DatasetRef(self.dataset, posixpath.dirname(self.key))

    @property
    def _full(self) -> str:
        return f"{self.dataset.name}/{self.key}" if self.key else self.dataset.name

    def _rel(self, full_key: str) -> DatasetRef:
        return DatasetRef(self.dataset, full_key[len(self.dataset.name) + 1 :])

    def _backend(self) -> Any:
        return self.dataset._backend()

    def _file_key(self) -> str:
        if not self.key:
            raise InvalidArgumentError("The dataset's top folder is not a file; join a key: ds / 'file.csv'.")
        return self._full

    @property
    def uri(self) -> str:
        """``s3://bucket/<dataset>/<key>`` or ``file:///...``: for tools that read the store directly."""
        return str(self._backend().uri(self._full))

    # --- inspecting ----------------------------------------------------------------------------

    def _info(self) -> ObjectInfo:
        info = self._backend().head(self._file_key())
        if info is None:
            raise NotFoundError(f"No object at {self}.", details={"ref": str(self)})
        return info

    def exists(self) -> bool:
        """Whether an object or a folder is at this path.

        Returns:
            bool: True for an object, or a folder with objects under it.

        Example:
            >>> (ds / "raw" / "2024.csv").exists()  # doctest: +SKIP
            True
        """
        return self.is_file() or self.is_dir()

    def is_file(self) -> bool:
        """Whether an object is at this path.

        Returns:
            bool: True for an object (False for a folder or nothing).

        Example:
            >>> (ds / "raw").is_file()  # doctest: +SKIP
            False
        """
        return bool(self.key) and self._backend().head(self._full) is not None

    def is_dir(self) -> bool:
        """Whether objects exist under this path (the dataset's top folder always is a folder).

        Returns:
            bool: True for a folder.

        Example:
            >>> (ds / "raw").is_dir()  # doctest: +SKIP
            True
        """
        return not self.key or self._backend().is_dir(self._full)

    @property
    def size(self) -> int:
        """Size in bytes. Raises NotFoundError when there is no object here."""
        return self._info().size

    @property
    def size_bytes(self) -> int:
        """Hoss's name for :attr:`size`: the object's size in bytes."""
        return self.size

    @property
    def etag(self) -> str:
        """The store's entity tag (changes when the content changes)."""
        return self._info().etag

    @property
    def last_modified(self) -> datetime:
        """When the object was last written (UTC)."""
        return self._info().last_modified

    @property
    def metadata(self) -> dict[str, str]:
        """User metadata given when the object was written (``{}`` when none)."""
        ns, ds = self.dataset.namespace.name, self.dataset.name
        try:
            entry = self.dataset._storage._rest.get(
                f"/namespaces/{ns}/datasets/{ds}/objects", params={"key": self.key}
            )
            return dict(entry["metadata"])
        except NotFoundError:
            return dict(self._info().metadata)

    def iterdir(self) -> Iterator[DatasetRef]:
        """The objects and folders directly under this folder.

        Returns:
            Iterator[DatasetRef]: one ref per object or sub-folder.

        Example:
            >>> [p.name for p in ds.root.iterdir()]  # doctest: +SKIP
            ['raw', 'readme.txt']
        """
        for entry in self._backend().list(self._full, recursive=False):
            yield self._rel(entry.key)

    def glob(self, pattern: str) -> Iterator[DatasetRef]:
        """Objects under this folder whose path relative to it matches a pattern.

        Args:
            pattern (str): ``*`` and ``?`` match within one path segment, ``**`` any number of
                segments, e.g. ``"2024/*.csv"`` or ``"**/*.parquet"``.

        Returns:
            Iterator[DatasetRef]: the matching objects.

        Raises:
            larder.errors.InvalidArgumentError: on an absolute pattern.

        Example:
            >>> [p.key for p in ds.root.glob("raw/*.csv")]  # doctest: +SKIP
            ['raw/2024.csv']
        """
        if pattern.startswith("/"):
            raise InvalidArgumentError(f"Glob patterns are relative, got {pattern!r}.")
        rx = _glob_regex(pattern)
        recursive = "/" in pattern or "**" in pattern
        base = self._full + "/"
        for entry in self._backend().list(self._full, recursive=recursive):
            rel = entry.key[len(base) :]
            if rx.match(rel):
                yield self._rel(entry.key)

    def rglob(self, pattern: str) -> Iterator[DatasetRef]:
        """Like :meth:`glob` with ``**/`` in front: matches at any depth.

        Args:
            pattern (str): e.g. ``"*.csv"``.

        Returns:
            Iterator[DatasetRef]: the matching objects.

        Example:
            >>> [p.key for p in ds.root.rglob("*.csv")]  # doctest: +SKIP
            ['raw/2024.csv', 'raw/old/2023.csv']
        """
        return self.glob(f"**/{pattern}")

    # --- reading and writing -------------------------------------------------------------------

    def _record(self, metadata: dict[str, str]) -> None:
        info = self._backend().head(self._full)
        if info is None:
            return
        ns, ds = self.dataset.namespace.name, self.dataset.name
        body = {"key": self.key, "size": info.size, "etag": info.etag, "metadata": metadata}
        self.dataset._storage._rest.put(f"/namespaces/{ns}/datasets/{ds}/objects", body)

    def _forget(self) -> None:
        ns, ds = self.dataset.namespace.name, self.dataset.name
        self.dataset._storage._rest.delete(
            f"/namespaces/{ns}/datasets/{ds}/objects", params={"key": self.key}
        )

    @staticmethod
    def _check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
        md = dict(metadata or {})
        for k, v in md.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise InvalidArgumentError(f"Metadata keys and values are strings; got {k!r}: {v!r}.")
        return md

    def open(
        self,
        mode: str = "rb",
        metadata: dict[str, str] | None = None,
        encoding: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """Open for streaming: ``"rb"`` reads, ``"wb"`` writes (never buffered whole); ``"r"`` /
        ``"rt"`` and ``"w"`` / ``"wt"`` do the same in text (Hoss style).

        A written file becomes visible only on a clean ``close()`` (or leaving its ``with``
        block); an exception inside the block, or dropping it unclosed, discards it (in text
        modes too).

        Args:
            mode (str): ``"rb"``, ``"wb"``, ``"r"``/``"rt"`` or ``"w"``/``"wt"``.
            metadata (dict[str, str] | None): user metadata, when writing.
            encoding (str | None): the text modes' encoding (default ``"utf-8"``).
            newline (str | None): the text modes' newline handling, as :func:`open`'s.

        Returns:
            BinaryIO | TextIO: a file object; use it in a ``with`` block.

        Raises:
            InvalidArgumentError: on another mode, or an encoding with a binary mode.
            PermissionDeniedError: writing with read access.
            NotFoundError: reading a missing object.

        Example:
            >>> with (ds / "big.bin").open("wb", metadata={"kind": "blob"}) as f:  # doctest: +SKIP
            ...     f.write(chunk)
            >>> with (ds / "notes.txt").open("rt", encoding="utf-8") as f:  # doctest: +SKIP
            ...     first = f.readline()
        """
        text = mode in ("r", "rt", "w", "wt")
        if not text and mode not in ("rb", "wb"):
            raise InvalidArgumentError(
                f"Unsupported mode {mode!r}: use 'rb', 'wb', 'r'/'rt' or 'w'/'wt'.", details={"mode": mode}
            )
        if not text and (encoding is not None or newline is not None):
            raise InvalidArgumentError(
                f"encoding= and newline= are for the text modes ('rt', 'wt'), not {mode!r}.",
                details={"mode": mode},
            )
        if mode.startswith("r"):
            raw = self._backend().open_read(self._file_key())
            if not text:
                return raw
            buffered = raw if isinstance(raw, io.BufferedIOBase) else io.BufferedReader(raw)
            return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", newline=newline)
        self.dataset._require_write(f"write {self.key}")
        md = self._check_metadata(metadata)
        writer = self._backend().open_write(self._file_key(), md)
        writer.on_commit = lambda: self._record(md)
        return _TextWriter(writer, encoding or "utf-8", newline) if text else writer

    def read_bytes(self) -> bytes:
        """The whole object as bytes (use :meth:`open` to stream a large one).

        Returns:
            bytes: the content.

        Example:
            >>> (ds / "raw" / "2024.csv").read_bytes()  # doctest: +SKIP
            b'a,b\\n1,2\\n'
        """
        with self.open("rb") as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        """The whole object decoded as text.

        Args:
            encoding (str): the text encoding (default ``"utf-8"``).

        Returns:
            str: the content.

        Example:
            >>> (ds / "raw" / "2024.csv").read_text()  # doctest: +SKIP
            'a,b\\n1,2\\n'
        """
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes, metadata: dict[str, str] | None = None) -> int:
        """Write an object, replacing any object here; it appears complete or not at all.

        Args:
            data (bytes): the content.
            metadata (dict[str, str] | None): user metadata, searchable with ``conn.search``.

        Returns:
            int: the number of bytes written.

        Example:
            >>> (ds / "blob.bin").write_bytes(b"\\x00\\x01", metadata={"kind": "test"})  # doctest: +SKIP
            2
        """
        with self.open("wb", metadata) as f:
            f.write(data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8", metadata: dict[str, str] | None = None) -> int:
        """Write text as an object, replacing any object here.

        Args:
            text (str): the content.
            encoding (str): the text encoding (default ``"utf-8"``).
            metadata (dict[str, str] | None): user metadata, searchable with ``conn.search``.

        Returns:
            int: the number of bytes written.

        Example:
            >>> (ds / "notes.txt").write_text("hello", metadata={"owner": "alice"})  # doctest: +SKIP
            5
        """
        return self.write_bytes(text.encode(encoding), metadata)

    def upload(
        self,
        local_path: str | os.PathLike[str],
        metadata: dict[str, str] | None = None,
        progress: bool = False,
    ) -> DatasetRef:
        """Upload a local file here, multipart and in parallel for large files.

        Args:
            local_path: the file to upload.
            metadata (dict[str, str] | None): user metadata.
            progress (bool): show a tqdm progress bar (default False).

        Returns:
            DatasetRef: this ref.

        Raises:
            FileNotFoundError: when ``local_path`` is not a file.
            PermissionDeniedError: with read-only access.

        Example:
            >>> (ds / "raw" / "2024.csv").upload("2024.csv", progress=True)  # doctest: +SKIP
        """
        local = Path(local_path)
        if not local.is_file():
            raise FileNotFoundError(f"Cannot upload {local}: it is not a file.")
        self.dataset._require_write(f"upload to {self.key}")
        md = self._check_metadata(metadata)
        with _progress(progress, local.stat().st_size, f"upload {local.name}") as cb:
            self._backend().upload_file(local, self._file_key(), md, cb)
        self._record(md)
        return self

    def download(self, local_path: str | os.PathLike[str] | None = None, progress: bool = False) -> Path:
        """Download the object to a local file, which appears complete or not at all.

        Args:
            local_path (str | os.PathLike | None): the file, or a directory to put it in under its
                own name. Default None: the object's name in the current directory.
            progress (bool): show a tqdm progress bar (default False).

        Returns:
            Path: the local file.

        Example:
            >>> (ds / "raw" / "2024.csv").download("/tmp")  # doctest: +SKIP
            PosixPath('/tmp/2024.csv')
        """
        target = Path(local_path) if local_path is not None else Path.cwd() / self.name
        if target.is_dir():
            target = target / self.name
        size = self.size if progress else 0
        with _progress(progress, size, f"download {self.name}") as cb:
            self._backend().download_file(self._file_key(), target, cb)
        return target

    def write_from(
        self,
        local_path: str | os.PathLike[str],
        metadata: dict[str, str] | None = None,
        progress: bool = False,
    ) -> DatasetRef:
        """Hoss's name for :meth:`upload`: write a local file here.

        Args:
            local_path (str | os.PathLike): the file to upload.
            metadata (dict[str, str] | None): user metadata.
            progress (bool): show a progress bar (default False).

        Returns:
            DatasetRef: this ref.

        Example:
            >>> (ds / "raw" / "2024.csv").write_from("2024.csv")  # doctest: +SKIP
        """
        return self.upload(local_path, metadata, progress)

    def read_to(self, local_path: str | os.PathLike[str] | None = None, progress: bool = False) -> Path:
        """Hoss's name for :meth:`download`: read the object into a local file.

        Args:
            local_path (str | os.PathLike | None): the file, or a directory (see :meth:`download`).
            progress (bool): show a progress bar (default False).

        Returns:
            Path: the local file.

        Example:
            >>> (ds / "raw" / "2024.csv").read_to("/tmp/2024.csv")  # doctest: +SKIP
        """
        return self.download(local_path, progress)

    def remove(self, missing_ok: bool = False) -> None:
        """Hoss's name for :meth:`unlink`: delete the object.

        Args:
            missing_ok (bool): do not raise when there is no object here (default False).

        Example:
            >>> (ds / "tmp.csv").remove(missing_ok=True)  # doctest: +SKIP
        """
        self.unlink(missing_ok)

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the object.

        Args:
            missing_ok (bool): do not raise when there is no object here (default False).

        Raises:
            NotFoundError: when there is no object here, unless ``missing_ok``.
            PermissionDeniedError: with read-only access.

        Example:
            >>> (ds / "tmp.csv").unlink(missing_ok=True)  # doctest: +SKIP
        """
        self.dataset._require_write(f"delete {self.key}")
        try:
            self._backend().delete(self._file_key())
        except NotFoundError:
            if not missing_ok:
                raise
        self._forget()

    def _same_store_backend(self, target: DatasetRef) -> Any:
        storage = self.dataset._storage
        ns = self.dataset.namespace.name
        if target.dataset.namespace.name != ns:
            return None
        backend, _ = storage.backend(ns, [self.dataset.name, target.dataset.name])
        return backend

    def copy_to(self, target: DatasetRef) -> DatasetRef:
        """Copy this object, with its metadata (server-side within one namespace, else streamed).

        Args:
            target (DatasetRef): where to copy it: a path in any dataset you may write.

        Returns:
            DatasetRef: ``target``.

        Raises:
            PermissionDeniedError: when you may not write to the target's dataset.

        Example:
            >>> (ds / "raw" / "2024.csv").copy_to(archive / "2024.csv")  # doctest: +SKIP
        """
        target.dataset._require_write(f"write {target.key}")
        md = self.metadata
        backend = self._same_store_backend(target)
        if backend is not None:
            backend.copy(self._file_key(), target._file_key(), md)
        else:
            with self.open("rb") as src, target.open("wb", md) as dst:
                while chunk := src.read(8 * 1024 * 1024):
                    dst.write(chunk)
        target._record(md)
        return target

    def move(self, target: DatasetRef) -> DatasetRef:
        """Move this object, with its metadata (copy, then delete this one).

        Args:
            target (DatasetRef): the new path, in any dataset you may write.

        Returns:
            DatasetRef: ``target``.

        Raises:
            PermissionDeniedError: when you may not write to both datasets.

        Example:
            >>> (ds / "incoming" / "a.csv").move(ds / "done" / "a.csv")  # doctest: +SKIP
        """
        self.dataset._require_write(f"move {self.key}")
        target.dataset._require_write(f"write {target.key}")
        md = self.metadata
        backend = self._same_store_backend(target)
        if backend is not None:
            backend.move(self._file_key(), target._file_key(), md)
            target._record(md)
            self._forget()
        else:
            self.copy_to(target)
            self.unlink()
        return target


class _progress:
    """A tqdm bar as a byte-count callback, or nothing when not asked for."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.enabled = enabled
        self.total = total
        self.desc = desc
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, unit="B", unit_scale=True, unit_divisor=1024, desc=self.desc)
        return self.bar.update

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()


class _TextWriter(io.TextIOWrapper):
    """A text stream over an atomic writer that keeps its promise: an exception inside the
    ``with`` block discards the object (a plain ``TextIOWrapper`` would close, and so commit, it)."""

    def __init__(self, writer: Any, encoding: str, newline: str | None) -> None:
        super().__init__(io.BufferedWriter(writer), encoding=encoding, newline=newline)
        self._writer = writer

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._writer.abort()
            with contextlib.suppress(Exception):
                self.close()
            return
        self.close()
