"""What the server itself does in object storage, with the store's own credentials.

The server never moves bulk data for clients; it only creates namespaces' buckets or folders,
deletes a dataset's objects, and vends short-lived credentials (see ``services/vending.py``).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

from larder.errors import DependencyFailedError
from larder.server.db.models import Namespace, ObjectStore
from larder.server.security.secretbox import SecretBox


def s3_client(store: ObjectStore, box: SecretBox, service: str = "s3") -> Any:
    """A boto3 client with the store's own credentials (or the server's default AWS chain)."""
    import boto3

    kwargs: dict[str, Any] = {"region_name": store.region or "us-east-1"}
    endpoint = store.sts_endpoint_url if service == "sts" and store.sts_endpoint_url else store.endpoint_url
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if store.access_key_id and store.secret_access_key_enc:
        kwargs["aws_access_key_id"] = store.access_key_id
        kwargs["aws_secret_access_key"] = box.decrypt(store.secret_access_key_enc)
    return boto3.client(service, **kwargs)


def local_root(namespace: Namespace) -> Path:
    assert namespace.object_store.root_path is not None
    return Path(namespace.object_store.root_path) / namespace.bucket


def create_namespace_storage(namespace: Namespace, box: SecretBox) -> None:
    """Create the namespace's folder or bucket (a bucket that exists is used as it is).

    Raises:
        DependencyFailedError: when the object store cannot be reached or refuses (the message has
            its error code, never a credential).
    """
    store = namespace.object_store
    if store.type == "local":
        local_root(namespace).mkdir(parents=True, exist_ok=True)
        return
    try:
        client = s3_client(store, box)
        try:
            client.head_bucket(Bucket=namespace.bucket)
        except client.exceptions.ClientError:
            kwargs: dict[str, Any] = {"Bucket": namespace.bucket}
            if store.region and store.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": store.region}
            client.create_bucket(**kwargs)
    except Exception as e:  # botocore's errors, a bad region or endpoint: never echo credentials
        code = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
        raise DependencyFailedError(
            f"The object store '{store.name}' could not create or open the bucket '{namespace.bucket}' ({code}); "
            "check its endpoint, region and credentials.",
            details={"object_store": store.name, "bucket": namespace.bucket, "code": code},
        ) from None


def delete_dataset_objects(namespace: Namespace, dataset_name: str, box: SecretBox) -> int:
    """Delete every object under ``<dataset>/`` (with the slash: ``foo`` never touches ``foobar``)."""
    store = namespace.object_store
    if store.type == "local":
        path = local_root(namespace) / dataset_name
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
            return count
        return 0
    client = s3_client(store, box)
    prefix = dataset_name + "/"
    deleted = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=namespace.bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=namespace.bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    for page in client.get_paginator("list_multipart_uploads").paginate(
        Bucket=namespace.bucket, Prefix=prefix
    ):
        for up in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=namespace.bucket, Key=up["Key"], UploadId=up["UploadId"])
    return deleted


def dataset_location(namespace: Namespace, dataset_name: str, box: SecretBox) -> tuple[str, dict[str, str]]:
    """(uri, storage_options) for the server's own reads of a dataset (deltalake / pyarrow)."""
    store = namespace.object_store
    if store.type == "local":
        return str(local_root(namespace) / dataset_name), {}
    opts = {"AWS_REGION": store.region or "us-east-1", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    if store.endpoint_url:
        opts["AWS_ENDPOINT_URL"] = store.endpoint_url
        if store.endpoint_url.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    if store.access_key_id and store.secret_access_key_enc:
        opts["AWS_ACCESS_KEY_ID"] = store.access_key_id
        opts["AWS_SECRET_ACCESS_KEY"] = box.decrypt(store.secret_access_key_enc)
    return f"s3://{namespace.bucket}/{dataset_name}", opts


def delete_prefix(namespace: Namespace, key_prefix: str, box: SecretBox) -> None:
    """Delete every object under ``key_prefix/`` (a feature group's table, a training dataset)."""
    store = namespace.object_store
    prefix = key_prefix.rstrip("/") + "/"
    if store.type == "local":
        path = local_root(namespace) / prefix
        if path.is_dir():
            shutil.rmtree(path)
        return
    client = s3_client(store, box)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=namespace.bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=namespace.bucket, Delete={"Objects": keys, "Quiet": True})


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()
COPY_OBJECT_LIMIT = 5 * 1024**3  # S3's largest single CopyObject


def cached_s3_client(store: ObjectStore, box: SecretBox) -> Any:
    """One boto3 client per store configuration, shared by threads (boto3 clients are thread-safe
    once made; making one is not, and costs a TLS context and a connection pool)."""
    key = (store.id, store.endpoint_url, store.region, store.access_key_id, store.secret_access_key_enc)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = s3_client(store, box)
        return client


def dataset_backend(namespace: Namespace, dataset_name: str, box: SecretBox, cached: bool = False) -> Any:
    """A :mod:`larder.storage.backends` backend over one dataset with the store's own credentials
    (keys are ``<dataset>/<key>``): what the sync worker reads, publishes and lists with.
    ``cached``: reuse one S3 client per store (many calls from many threads)."""
    from larder.storage.backends import LocalBackend, S3Backend

    store = namespace.object_store
    if store.type == "local":
        return LocalBackend({dataset_name: str(local_root(namespace) / dataset_name)})
    client = cached_s3_client(store, box) if cached else s3_client(store, box)
    return S3Backend(namespace.bucket, lambda: client, store.endpoint_url)


def publish(namespace: Namespace, box: SecretBox, staged_key: str, key: str, size: int) -> Any:
    """Move a staged object (namespace-relative keys) under its key in one step: a rename on a
    local store, one CopyObject and a delete on S3 (a managed multipart copy above 5 GiB).

    Returns:
        ObjectInfo: what the key holds now (size, etag, time).

    Raises:
        NotFoundError: when the staged object is not there (upload it again).
    """
    from datetime import datetime, timezone

    from larder.errors import NotFoundError
    from larder.storage.backends import ObjectInfo

    missing = NotFoundError(
        f"The staged upload {staged_key.rpartition('/')[2]!r} is not there; upload it again.",
        details={"staged_key": staged_key.rpartition("/")[2]},
    )
    store = namespace.object_store
    if store.type == "local":
        root = local_root(namespace)
        src, dst = root / staged_key, root / key
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            raise missing from None
        st = dst.stat()
        return ObjectInfo(
            key,
            st.st_size,
            f"{st.st_size:x}-{st.st_mtime_ns:x}",
            datetime.fromtimestamp(st.st_mtime, timezone.utc),
        )
    client = cached_s3_client(store, box)
    if size > COPY_OBJECT_LIMIT:
        backend = dataset_backend(namespace, key.partition("/")[0], box, cached=True)
        if backend.head(staged_key) is None:
            raise missing
        backend.move(staged_key, key, {})
        info = backend.head(key)
        assert info is not None
        return info
    try:
        out = client.copy_object(
            Bucket=namespace.bucket, Key=key, CopySource={"Bucket": namespace.bucket, "Key": staged_key}
        )
    except client.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise missing from None
        raise
    client.delete_object(Bucket=namespace.bucket, Key=staged_key)
    result = out["CopyObjectResult"]
    return ObjectInfo(key, size, result["ETag"].strip('"'), result["LastModified"])
