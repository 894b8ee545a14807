"""Short-lived, dataset-scoped object-store credentials for clients.

For ``s3`` stores the server calls STS ``AssumeRole`` on the store's role with a session policy that
lists exactly the requested datasets' prefixes: read actions for ``r``, read and write for ``rw``.
The client never sees the store's own credentials. For ``local`` stores a same-host client gets the
folders of exactly the requested datasets and the access map (it checks ``rw`` itself before
writing): a local store has no credentials to scope, so what it can promise is what the operating
system's file permissions give (see docs/security.md).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from larder.errors import ConfigurationError, DependencyFailedError, InvalidArgumentError
from larder.server import storage_backend
from larder.server.security.authz import Principal
from larder.server.security.secretbox import SecretBox
from larder.server.services import datasets, storage

MIN_STS_SECONDS = 900  # AWS's minimum for AssumeRole
MAX_DATASETS_PER_REQUEST = 20


def session_policy(bucket: str, access: dict[str, str]) -> dict[str, Any]:
    """The IAM session policy for ``{dataset: "r"|"rw"}`` in ``bucket``."""
    readable = sorted(access)
    writable = sorted(d for d, a in access.items() if a == "rw")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListDatasetPrefixes",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringLike": {"s3:prefix": [p for d in readable for p in (f"{d}/", f"{d}/*")]}},
        },
        {
            "Sid": "ReadDatasets",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [f"arn:aws:s3:::{bucket}/{d}/*" for d in readable],
        },
    ]
    if writable:
        statements.append(
            {
                "Sid": "WriteDatasets",
                "Effect": "Allow",
                "Action": [
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": [f"arn:aws:s3:::{bucket}/{d}/*" for d in writable],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def vend(
    db: Session,
    principal: Principal,
    box: SecretBox,
    namespace: str,
    dataset_names: list[str],
    lifetime_seconds: int,
) -> dict[str, Any]:
    principal.require_scope("dataset")
    names = sorted(set(dataset_names))
    if not names or len(names) > MAX_DATASETS_PER_REQUEST:
        raise InvalidArgumentError(
            f"Ask for credentials for 1 to {MAX_DATASETS_PER_REQUEST} datasets at a time, got {len(names)}.",
            details={"datasets": len(names)},
        )
    ns = storage.get_namespace(db, namespace)
    access = {name: datasets.get_with_access(db, principal, namespace, name)[1] for name in names}
    store = ns.object_store
    now = datetime.now(timezone.utc)
    if store.type == "local":
        root = storage_backend.local_root(ns)
        return {
            "type": "local",
            "namespace": ns.name,
            "paths": {name: str(root / name) for name in names},
            "bucket": ns.bucket,
            "datasets": access,
            "expiration": (now + timedelta(seconds=lifetime_seconds)).isoformat(),
        }
    if not store.role_arn:
        raise ConfigurationError(
            f"Object store '{store.name}' has no role to assume; an admin must set its role ARN.",
            details={"object_store": store.name},
        )
    policy = session_policy(ns.bucket, access)
    sts = storage_backend.s3_client(store, box, "sts")
    try:
        resp = sts.assume_role(
            RoleArn=store.role_arn,
            RoleSessionName=f"larder-{principal.username}"[:64],
            Policy=json.dumps(policy, separators=(",", ":")),
            DurationSeconds=max(MIN_STS_SECONDS, lifetime_seconds),
        )
    except Exception as e:  # botocore errors: never echo credentials, only the error code
        code = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
        raise DependencyFailedError(
            f"The object store '{store.name}' refused to issue credentials ({code}); ask an admin to check its role.",
            details={"object_store": store.name, "code": code},
        ) from None
    creds = resp["Credentials"]
    expiration = min(creds["Expiration"], now + timedelta(seconds=lifetime_seconds))
    return {
        "type": "s3",
        "namespace": ns.name,
        "bucket": ns.bucket,
        "endpoint_url": store.endpoint_url,
        "region": store.region or "us-east-1",
        "access_key_id": creds["AccessKeyId"],
        "secret_access_key": creds["SecretAccessKey"],
        "session_token": creds["SessionToken"],
        "expiration": expiration.isoformat(),
        "datasets": access,
        "policy": policy,
    }
