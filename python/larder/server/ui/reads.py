"""The bounded reads behind the pages: no service offers these (the REST API's clients read data
themselves), so each takes an object that a service already authorized for the caller and reads
only inside it, with hard limits:

- :func:`preview_rows`: the first rows of a feature group's Delta table at a version (at most
  :data:`PREVIEW_MAX_ROWS`; only as many Parquet row groups as those rows need).
- :func:`list_objects`: one page of a dataset's object index under a prefix, with "folders" for
  deeper keys, by keyset paging (an indexed range scan per page, whatever the dataset's size).
- :func:`parquet_summary`: row and null counts, min and max per column of a training dataset's
  split, from the Parquet footer alone.
- :func:`artifact_file`: where a model artifact is, for its download link.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from larder.errors import InvalidArgumentError, NotFoundError, ServiceUnavailableError
from larder.server import storage_backend
from larder.server.db.models import Dataset, FeatureGroup, ObjectEntry
from larder.server.security.secretbox import SecretBox

PREVIEW_MAX_ROWS = 100
PREVIEW_MAX_CELL = 200
PAGE_MAX_OBJECTS = 500
_TOP = "\U0010ffff"  # sorts after every character a key may hold


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        text = v.isoformat()
    elif isinstance(v, float):
        text = f"{v:.6g}"
    elif isinstance(v, bytes):
        text = v[:64].hex()
    else:
        text = str(v)
    return text if len(text) <= PREVIEW_MAX_CELL else text[: PREVIEW_MAX_CELL - 1] + "…"


@dataclass
class Preview:
    columns: list[str]
    rows: list[list[str]]
    delta_version: int


def preview_rows(
    fg: FeatureGroup, dataset: Dataset, box: SecretBox, delta_version: int, limit: int
) -> Preview:
    """The first ``limit`` rows of ``fg``'s Delta table as of ``delta_version``, as display text.

    Raises:
        NotFoundError: when the table or that version is not in storage.
    """
    from larder.engine.python import delta
    from larder.plan import TableRef
    from larder.server.services.featurestore import table_path

    limit = max(1, min(int(limit), PREVIEW_MAX_ROWS))
    uri, opts = storage_backend.dataset_location(dataset.namespace, dataset.name, box)
    ref = TableRef(fg.name, fg.version, f"{uri}/{table_path(fg)}", opts or None)
    try:
        head = delta.head(delta.open_table(ref, version=delta_version), opts, limit)
    except Exception as e:  # deltalake raises its own types (and OSError) for a missing table or version
        raise NotFoundError(
            f"No data of feature group '{fg.name}' v{fg.version} at Delta version {delta_version} in storage "
            f"({type(e).__name__}); the commit may have been vacuumed.",
            details={"delta_version": delta_version},
        ) from None
    columns = head.column_names
    values = [head.column(c).to_pylist() for c in columns]
    rows = [[_cell(col[i]) for col in values] for i in range(head.num_rows)]
    return Preview(columns, rows, delta_version)


@dataclass
class Entry:
    """A row of a listing: a folder (``key`` ends with ``/``, ``entry`` None) or an object
    (``entry`` has its ``key``, ``size``, ``last_modified`` and ``metadata_json``)."""

    key: str
    entry: Any = None


@dataclass
class Listing:
    """One page of a dataset's keys under ``prefix``, in key order: ``entries`` (folders, for
    deeper keys, as ``prefix/name/``, and objects), and ``next_after`` (the next page's cursor, or
    None); ``total`` counts the dataset's indexed objects."""

    prefix: str
    entries: list[Entry]
    next_after: str | None
    total: int


def check_prefix(prefix: str) -> str:
    if len(prefix.encode()) > 1024 or any(ord(c) < 32 for c in prefix):
        raise InvalidArgumentError(
            f"Invalid prefix {prefix[:60]!r}: at most 1024 bytes, no control characters.",
            details={"prefix": prefix[:60]},
        )
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix.lstrip("/")


def _key(db: Session) -> Any:
    """The key column compared byte by byte ("C" on PostgreSQL, SQLite's default BINARY), so the
    ranges below match the order in which pages are cut."""
    return ObjectEntry.key.collate("C") if db.get_bind().dialect.name == "postgresql" else ObjectEntry.key


def list_objects(db: Session, dataset: Dataset, prefix: str, after: str | None, limit: int) -> Listing:
    """A page of at most ``limit`` entries (folders and objects, in key order) after ``after``.

    Each folder costs one indexed query (the scan then jumps past it), each run of objects one,
    so a page of a 100,000-object dataset reads about ``limit`` rows.
    """
    prefix = check_prefix(prefix)
    limit = max(1, min(int(limit), PAGE_MAX_OBJECTS))
    key = _key(db)
    cursor = after if after and after.startswith(prefix) else None
    entries: list[Entry] = []
    next_after: str | None = None
    while True:  # keys only (the index answers), then the page's objects in one query
        # one lower bound only: given two (>= prefix, > cursor), SQLite seeks to the first and scans
        lower = key > cursor if cursor is not None else key >= prefix
        stmt = select(ObjectEntry.key).where(ObjectEntry.dataset_id == dataset.id, lower, key < prefix + _TOP)
        batch = list(db.scalars(stmt.order_by(key).limit(limit + 1)))
        if not batch:
            break
        jumped = False
        for k in batch:
            if len(entries) == limit:
                next_after = cursor
                break
            rest = k[len(prefix) :]
            if "/" in rest:
                folder = prefix + rest.split("/", 1)[0] + "/"
                entries.append(Entry(folder))
                cursor = folder + _TOP  # past every key in the folder
                jumped = True
                break
            entries.append(Entry(k))
            cursor = k
        if next_after is not None or (not jumped and len(batch) <= limit):
            break
    wanted = [e.key for e in entries if not e.key.endswith("/")]
    if wanted:
        rows = db.execute(
            select(
                ObjectEntry.key, ObjectEntry.size, ObjectEntry.last_modified, ObjectEntry.metadata_json
            ).where(ObjectEntry.dataset_id == dataset.id, ObjectEntry.key.in_(wanted))
        ).all()
        by_key = {r.key: r for r in rows}
        for e in entries:
            e.entry = by_key.get(e.key)
    total = db.scalar(select(func.count(ObjectEntry.id)).where(ObjectEntry.dataset_id == dataset.id)) or 0
    return Listing(prefix, entries, next_after, int(total))


def object_metadata(entry: ObjectEntry) -> dict[str, str]:
    return dict(json.loads(entry.metadata_json))


def parquet_summary(dataset: Dataset, box: SecretBox, path: str, max_columns: int = 200) -> dict[str, Any]:
    """``{"rows", "row_groups", "columns": [{"name", "type", "nulls", "min", "max"}]}`` of one
    Parquet file of ``dataset`` (``path`` inside it), from its footer.

    Raises:
        NotFoundError: when the file is not there. ServiceUnavailableError: when the store fails.
    """
    from larder.engine.python import delta

    uri, opts = storage_backend.dataset_location(dataset.namespace, dataset.name, box)
    try:
        meta = delta.open_parquet(f"{uri}/{path}", opts).metadata
    except FileNotFoundError:
        raise NotFoundError(
            f"No file {path!r} in dataset '{dataset.name}'.", details={"path": path}
        ) from None
    except OSError as e:
        raise ServiceUnavailableError(
            f"Could not read {path!r} in dataset '{dataset.name}' ({type(e).__name__}).",
            details={"path": path},
        ) from None
    schema = meta.schema.to_arrow_schema()
    columns = []
    for i in range(min(meta.num_columns, max_columns)):
        nulls, lo, hi, known = 0, None, None, True
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(i).statistics
            if st is None:
                known = False
                continue
            nulls += st.null_count or 0
            if st.has_min_max:
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
        columns.append(
            {
                "name": schema.field(i).name if i < len(schema) else meta.schema.column(i).name,
                "type": str(schema.field(i).type) if i < len(schema) else "",
                "nulls": nulls if known else None,
                "min": _cell(lo),
                "max": _cell(hi),
            }
        )
    return {"rows": meta.num_rows, "row_groups": meta.num_row_groups, "columns": columns}


def artifact_file(dataset: Dataset, box: SecretBox, key: str) -> tuple[str, Path | str]:
    """Where a model artifact is: ``("local", path)`` on a local store (checked to be inside the
    dataset), or ``("s3", presigned_url)`` valid 5 minutes on an S3 store."""
    ns = dataset.namespace
    if ns.object_store.type == "local":
        root = (storage_backend.local_root(ns) / dataset.name).resolve()
        path = (root / key).resolve()
        if root not in path.parents or not path.is_file():
            raise NotFoundError(f"The artifact {key!r} is not in storage.", details={"key": key})
        return "local", path
    client = storage_backend.s3_client(ns.object_store, box)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": ns.bucket, "Key": f"{dataset.name}/{key}"}, ExpiresIn=300
    )
    return "s3", str(url)
