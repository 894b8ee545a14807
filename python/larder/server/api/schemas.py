"""Pydantic schemas at the REST boundary. Request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from larder.names import (
    API_KEY_NAME_PATTERN,
    DATASET_NAME_PATTERN,
    PROJECT_NAME_PATTERN,
    STORAGE_NAME_PATTERN,
    USER_NAME_PATTERN,
)

Scope = Literal["project", "featurestore", "modelregistry", "dataset", "admin"]
PlatformRole = Literal["admin", "privileged", "user"]
ProjectRole = Literal["data_owner", "data_scientist"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    error_code: str
    message: str
    details: dict[str, object] = Field(default_factory=dict)


class VersionOut(BaseModel):
    version: str
    api_version: str


class UserCreate(Strict):
    username: str = Field(pattern=USER_NAME_PATTERN, max_length=32)
    email: str = Field(default="", max_length=254)
    role: PlatformRole = "user"


class UserOut(BaseModel):
    username: str
    email: str
    role: str
    created_at: datetime


class ProjectCreate(Strict):
    name: str = Field(pattern=PROJECT_NAME_PATTERN, max_length=63)
    description: str = Field(default="", max_length=2000)
    namespace: str = Field(default="default", pattern=STORAGE_NAME_PATTERN, max_length=63)


class MemberOut(BaseModel):
    username: str
    role: str


class ProjectOut(BaseModel):
    name: str
    description: str
    owner: str
    created_at: datetime
    namespace: str | None
    members: list[MemberOut]


class MemberSet(Strict):
    role: ProjectRole


class ApiKeyCreate(Strict):
    name: str = Field(pattern=API_KEY_NAME_PATTERN, max_length=64)
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    user: str | None = Field(default=None, pattern=USER_NAME_PATTERN, max_length=32)


class ApiKeyOut(BaseModel):
    name: str
    prefix: str
    user: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret API key. Shown once; store it safely.")


class CredentialsOut(BaseModel):
    user: str
    project: str
    serial: str
    expires_at: datetime
    client_cert: str = Field(description="PEM client certificate")
    client_key: str = Field(description="PEM PKCS#8 private key of the client certificate")
    ca_chain: str = Field(description="PEM CA certificate chain")
    key_store: str = Field(description="PKCS#12 keystore (key + certificate + CA), base64")
    trust_store: str = Field(description="PKCS#12 truststore (the CA), base64")
    password: str = Field(description="Password of both PKCS#12 stores")


# --- storage ---------------------------------------------------------------------------------------


class ObjectStoreCreate(Strict):
    name: str = Field(pattern=STORAGE_NAME_PATTERN, max_length=63)
    type: Literal["local", "s3"]
    root_path: str | None = Field(default=None, max_length=4096)
    endpoint_url: str | None = Field(default=None, max_length=2048)
    sts_endpoint_url: str | None = Field(default=None, max_length=2048)
    region: str | None = Field(default=None, max_length=64)
    access_key_id: str | None = Field(default=None, max_length=256)
    secret_access_key: str | None = Field(default=None, max_length=1024)
    role_arn: str | None = Field(default=None, max_length=2048)


class ObjectStoreOut(BaseModel):
    name: str
    type: str
    root_path: str | None
    endpoint_url: str | None
    region: str | None
    role_arn: str | None
    created_at: datetime


class NamespaceCreate(Strict):
    name: str = Field(pattern=STORAGE_NAME_PATTERN, max_length=63)
    description: str = Field(default="", max_length=2000)
    object_store: str = Field(pattern=STORAGE_NAME_PATTERN, max_length=63)
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class NamespaceOut(BaseModel):
    name: str
    description: str
    object_store: str
    object_store_type: str
    bucket: str
    created_at: datetime


class DatasetCreate(Strict):
    name: str = Field(pattern=DATASET_NAME_PATTERN, max_length=80)
    description: str = Field(default="", max_length=2000)


class PermissionOut(BaseModel):
    user: str | None
    project: str | None
    access: str


class DatasetOut(BaseModel):
    namespace: str
    name: str
    description: str
    owner: str
    project: str | None
    created_at: datetime
    access: str = Field(description="The caller's access: 'r' or 'rw'")
    permissions: list[PermissionOut]


class PermissionSet(Strict):
    user: str | None = Field(default=None, pattern=USER_NAME_PATTERN, max_length=32)
    project: str | None = Field(default=None, pattern=PROJECT_NAME_PATTERN, max_length=63)
    access: Literal["r", "rw"] | None


class ObjectRecord(Strict):
    key: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    etag: str = Field(default="", max_length=128)
    metadata: dict[str, str] = Field(default_factory=dict)


class ObjectOut(BaseModel):
    namespace: str
    dataset: str
    key: str
    size: int
    etag: str
    last_modified: datetime
    metadata: dict[str, str]


class SearchRequest(Strict):
    metadata: dict[str, str] = Field(default_factory=dict)
    namespace: str | None = Field(default=None, pattern=STORAGE_NAME_PATTERN, max_length=63)
    dataset: str | None = Field(default=None, pattern=DATASET_NAME_PATTERN, max_length=80)
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class StorageCredentials(BaseModel):
    type: Literal["local", "s3"]
    namespace: str
    bucket: str
    datasets: dict[str, str] = Field(description="dataset -> 'r' | 'rw'")
    expiration: datetime
    paths: dict[str, str] | None = Field(
        default=None,
        description="local stores: dataset -> its folder on the server's host (only those asked for)",
    )
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    policy: dict[str, object] | None = Field(default=None, description="s3: the STS session policy")
