"""AWS for the connector tests: a real `moto_server` (STS, Secrets Manager, SSM) on loopback.

- ``moto_server``: one `moto_server -H 127.0.0.1 -p <free port>` per test module; yields its URL.
- ``aws``: points boto3 at it for one test (env ``AWS_ENDPOINT_URL``, fake credentials, region
  ``eu-west-1``, no shared config files) and returns an :class:`Aws` helper that assumes IAM roles
  and stores secrets and parameters.

Import both fixtures into a test module: ``from aws_fixtures import aws, moto_server``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import real_services

free_port = real_services.free_port
ACCOUNT = "123456789012"
DEFAULT_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real moto_server process on a free loopback port, for one test module."""
    with real_services.moto(tmp_path_factory.mktemp("moto")) as url:
        yield url


@dataclass
class Aws:
    """Helpers on the moto server for one test (boto3 is pointed at it through the environment)."""

    url: str
    monkeypatch: pytest.MonkeyPatch

    def client(self, service: str, region: str = DEFAULT_REGION, **creds: Any) -> Any:
        import boto3

        return boto3.session.Session(region_name=region, **creds).client(service)

    def new_role(self, prefix: str = "role") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def run_as_role(self, role: str) -> None:
        """Assume ``role`` (moto does not enforce IAM) and put its credentials in the environment."""
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="larder-test"
        )["Credentials"]
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
        self.monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])

    def put_secret(self, name: str, value: dict[str, Any] | str, region: str = DEFAULT_REGION) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.client("secretsmanager", region).create_secret(Name=name, SecretString=text)

    def put_parameter(self, name: str, value: str, region: str = DEFAULT_REGION) -> None:
        self.client("ssm", region).put_parameter(Name=name, Value=value, Type="SecureString")


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Aws:
    """boto3 pointed at the module's moto_server, with fake static credentials (an IAM user)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    return Aws(moto_server, monkeypatch)
