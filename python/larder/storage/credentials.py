"""Vended object-store credentials on the client: fetched from the server, renewed before expiry.

For S3 stores the credentials live in a botocore ``RefreshableCredentials``: botocore renews them
(by asking the server again) before they expire, transparently, also between the parts of a long
multipart upload. The client never sees the store's own credentials.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from larder.client.rest import RestClient

log = logging.getLogger("larder.storage")


@dataclass
class VendedCredentials:
    """What the server vended for some datasets of a namespace (secrets kept out of the repr)."""

    type: str
    namespace: str
    bucket: str
    datasets: dict[str, str]
    expiration: datetime
    paths: dict[str, str] | None = None
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    policy: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VendedCredentials:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}  # a newer server may say more
        data["expiration"] = datetime.fromisoformat(str(data["expiration"]).replace("Z", "+00:00"))
        return cls(**data)


def fetch(rest: RestClient, namespace: str, datasets: list[str]) -> VendedCredentials:
    """Ask the server for credentials scoped to ``datasets`` of ``namespace``."""
    data = rest.get(f"/namespaces/{namespace}/credentials", params={"dataset": sorted(set(datasets))})
    return VendedCredentials.from_json(data)


class S3ClientFactory:
    """A boto3 S3 client whose credentials renew themselves through the server.

    ``refresh_count`` counts the renewals (useful to observe renewal in tests and logs).
    """

    def __init__(self, rest: RestClient, first: VendedCredentials, datasets: list[str]) -> None:
        self._rest = rest
        self._datasets = sorted(set(datasets))
        self.current = first
        self.refresh_count = 0
        self._lock = threading.Lock()
        self._client: Any = None

    def _metadata(self, creds: VendedCredentials) -> dict[str, str]:
        return {
            "access_key": creds.access_key_id or "",
            "secret_key": creds.secret_access_key or "",
            "token": creds.session_token or "",
            "expiry_time": creds.expiration.isoformat(),
        }

    def _refresh(self) -> dict[str, str]:
        creds = fetch(self._rest, self.current.namespace, self._datasets)
        self.current = creds
        self.refresh_count += 1
        log.debug("renewed storage credentials for %s, expiring %s", self._datasets, creds.expiration)
        return self._metadata(creds)

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import botocore.session
                except ImportError as e:
                    from larder.errors import ConfigurationError

                    raise ConfigurationError(
                        "Datasets on S3 object stores need boto3: pip install 'larder-platform[aws]'."
                    ) from e
                from botocore.config import Config
                from botocore.credentials import RefreshableCredentials

                credentials = RefreshableCredentials.create_from_metadata(
                    metadata=self._metadata(self.current), refresh_using=self._refresh, method="larder-vended"
                )
                import boto3

                session = botocore.session.get_session()
                session._credentials = credentials  # the usual way to plug a refresher into botocore
                self._client = boto3.Session(botocore_session=session).client(
                    "s3",
                    endpoint_url=self.current.endpoint_url,
                    region_name=self.current.region,
                    config=Config(
                        max_pool_connections=32,
                        retries={"max_attempts": 5, "mode": "standard"},
                        s3={"addressing_style": "path"},
                    ),
                )
            return self._client
