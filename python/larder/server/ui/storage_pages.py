"""Namespaces and datasets: a file browser over a dataset's object index (paged by key), an
object's metadata, a dataset's permissions, and search by metadata."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from larder.errors import InvalidArgumentError
from larder.server.services import datasets, objects, storage
from larder.server.sync import service as sync_service
from larder.server.ui import reads
from larder.server.ui.web import CurrentUI, router

StorageName = Annotated[str, Path(min_length=1, max_length=80)]
PAGE_SIZE = 100
SEARCH_LIMIT = 200
MAX_SEARCH_TEXT = 4000


@router.get("/namespaces")
def namespaces(ui: CurrentUI) -> Response:
    return ui.render("namespaces.html", namespaces=storage.list_namespaces(ui.db, ui.principal))


@router.get("/namespaces/{namespace}")
def namespace(ui: CurrentUI, namespace: StorageName) -> Response:
    rows = datasets.list_visible(ui.db, ui.principal, namespace)
    ns = storage.get_namespace(ui.db, namespace)
    return ui.render("namespace.html", ns=ns, datasets=rows)


@router.get("/namespaces/{namespace}/datasets/{dataset}")
def dataset(
    ui: CurrentUI,
    namespace: StorageName,
    dataset: StorageName,
    prefix: Annotated[str, Query(max_length=1024)] = "",
    after: Annotated[str | None, Query(max_length=1100)] = None,
    limit: Annotated[int, Query(ge=1, le=reads.PAGE_MAX_OBJECTS)] = PAGE_SIZE,
) -> Response:
    ds, access = datasets.get_with_access(ui.db, ui.principal, namespace, dataset)
    listing = reads.list_objects(ui.db, ds, prefix, after, limit)
    parts = [p for p in listing.prefix.split("/") if p]
    crumbs = [("/".join(parts[: i + 1]) + "/", name) for i, name in enumerate(parts)]
    return ui.render(
        "dataset.html",
        ds=ds,
        access=access,
        listing=listing,
        folder_crumbs=crumbs,
        limit=limit,
        first_page=after is None,
        sync=sync_service.dataset_status(ui.db, ds),
    )


@router.get("/namespaces/{namespace}/datasets/{dataset}/object")
def object_page(
    ui: CurrentUI,
    namespace: StorageName,
    dataset: StorageName,
    key: Annotated[str, Query(min_length=1, max_length=1024)],
) -> Response:
    entry = objects.lookup(ui.db, ui.principal, namespace, dataset, key)
    folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    return ui.render("object.html", entry=entry, metadata=reads.object_metadata(entry), folder=folder)


def parse_pairs(text: str) -> dict[str, str]:
    """``key=value`` pairs, one a line (or separated by ``&``), as a dict.

    Raises:
        InvalidArgumentError: naming the first line that is not ``key=value``.
    """
    if len(text) > MAX_SEARCH_TEXT:
        raise InvalidArgumentError(f"At most {MAX_SEARCH_TEXT} characters of metadata to search for.")
    pairs: dict[str, str] = {}
    for raw in text.replace("&", "\n").splitlines():
        line = raw.strip()
        if not line:
            continue
        k, eq, v = line.partition("=")
        if not eq or not k.strip():
            raise InvalidArgumentError(
                f"Write each metadata pair as key=value, one a line; got {line[:60]!r}.",
                details={"line": line[:60]},
            )
        pairs[k.strip()] = v.strip()
    return pairs


@router.get("/search")
def search(
    ui: CurrentUI,
    q: Annotated[str, Query(max_length=MAX_SEARCH_TEXT)] = "",
    namespace: Annotated[str, Query(max_length=80)] = "",
    dataset: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    found = error = None
    if q.strip():
        try:
            pairs = parse_pairs(q)
            found = objects.search(
                ui.db, ui.principal, pairs, namespace or None, dataset or None, limit=SEARCH_LIMIT
            )
        except InvalidArgumentError as e:
            error = e.message
    spaces = storage.list_namespaces(ui.db, ui.principal)
    return ui.render(
        "search.html",
        q=q,
        namespace=namespace,
        dataset=dataset,
        found=found,
        error=error,
        limit=SEARCH_LIMIT,
        namespaces=spaces,
        status=400 if error else 200,
    )
