"""Pydantic schemas at the REST boundary. Request bodies refuse unknown fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

from larder.names import (
    API_KEY_NAME_PATTERN,
    DATASET_NAME_PATTERN,
    OBJECT_KEY_PATTERN,
    PROJECT_NAME_PATTERN,
    STORAGE_NAME_PATTERN,
    USER_NAME_PATTERN,
)
from larder.server.api.params import explained

Scope = Literal["project", "featurestore", "modelregistry", "dataset", "admin"]

MAX_INT = 2**53 - 1  # counts and sizes: exact as JSON doubles too
URL = explained(r"^https?://[^\x00\s]+$", "an http:// or https:// URL")
NO_NUL = explained(r"^[^\x00]*$", "text without NUL characters")  # PostgreSQL text cannot hold them


def Text(max_length: int, **kw: Any) -> Any:  # noqa: N802 - reads as a type in the models below
    """A free-text field of at most ``max_length`` characters and no NUL character."""
    return Field(max_length=max_length, pattern=NO_NUL, **kw)


MAX_FLOAT = 1.7976931348623157e308


def finite_json(value: Any) -> Any:
    """Check that a free JSON value's numbers are finite floats (what FiniteJson declares): JSON
    can write 1e999 or a 400-digit integer, which no float holds."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and not -MAX_FLOAT <= v <= MAX_FLOAT:
            raise ValueError(f"the number {str(v)[:40]} is not a finite float")  # NaN fails the test too
    return value


FiniteJsonValue = Annotated[Any, AfterValidator(finite_json)]
FiniteJsonObject = Annotated[dict[str, Any], AfterValidator(finite_json)]

FINITE_JSON: dict[str, Any] = {"x-finite-json": "any"}
FINITE_JSON_OBJECT: dict[str, Any] = {"x-finite-json": "object"}
"""For ``json_schema_extra`` of a field holding any JSON: the OpenAPI document names it FiniteJson
(JSON whose numbers are finite; ``app.py`` puts the reference in); the services check it too."""


def given_then(field: str, needs: str) -> dict[str, Any]:
    """JSON Schema for: when ``field`` is given (not null), ``needs`` must be given too (as anyOf,
    which generators follow, rather than if/then)."""
    return {
        "anyOf": [
            {"properties": {field: {"type": "null"}}},
            {
                "required": [field, needs],
                "properties": {field: {"type": "string"}, needs: {"type": "string"}},
            },
        ]
    }


MetadataKey = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
MetadataValue = Annotated[str, Field(max_length=1024, pattern=NO_NUL)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=64)]
"""User metadata of an object: at most 64 pairs (keys 1-128, values at most 1024 characters)."""
PlatformRole = Literal["admin", "privileged", "user"]
ProjectRole = Literal["data_owner", "data_scientist"]


class Strict(BaseModel):
    """A request body: unknown fields refused, and no lax conversions (``true`` is no version
    number, ``0`` no date): what the OpenAPI document says a field is, it must be."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _json_int(value: Any) -> Any:
    # JSON Schema's integers include 360.0; strict pydantic refuses it, lax pydantic takes True and "5"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[StrictInt, BeforeValidator(_json_int)]
"""An integer as JSON Schema means it: ``5`` or ``5.0``, never ``true`` or ``"5"``."""


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("a date or time is an ISO 8601 string")
    return value


IsoDatetime = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_iso_text)]
"""A timezone-aware time written as RFC 3339 text (``2024-01-01T00:00:00Z``)."""
IsoDate = Annotated[date, Field(strict=False), BeforeValidator(_iso_text)]
"""A date written as ``YYYY-MM-DD``."""


class ErrorBody(BaseModel):
    error_code: str
    message: str
    details: dict[str, object] = Field(default_factory=dict)


class VersionOut(BaseModel):
    version: str
    api_version: str


class TokenRequest(Strict):
    audience: str | None = Field(
        default=None,
        max_length=255,
        pattern=URL,
        description="The public URL of the server the token is for.",
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds")
    expires_at: datetime
    issuer: str
    audience: str
    user: str
    scopes: list[str]


class UserCreate(Strict):
    username: str = Field(pattern=USER_NAME_PATTERN, max_length=32)
    email: str = Text(254, default="")
    role: PlatformRole = "user"


class UserOut(BaseModel):
    username: str
    email: str
    role: str
    created_at: datetime
    federated_issuer: str | None = Field(
        default=None, description="The auth service whose token created this user (null: a local user)."
    )


class ProjectCreate(Strict):
    name: str = Field(pattern=PROJECT_NAME_PATTERN, max_length=63)
    description: str = Text(2000, default="")
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
    expires_in_days: Annotated[JsonInt, Field(ge=1, le=3650)] | None = None
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
    """A local store needs ``root_path`` (an absolute path on the server's host); an S3 store takes
    an endpoint, a region, a role to assume, and its own keys (both or neither: without them the
    server uses its default AWS credential chain)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "allOf": [
                {
                    "oneOf": [
                        {
                            "required": ["type", "root_path"],
                            "properties": {"type": {"const": "local"}, "root_path": {"type": "string"}},
                        },
                        {"properties": {"type": {"const": "s3"}, "root_path": {"type": "null"}}},
                    ]
                },
                {
                    "anyOf": [
                        {
                            "properties": {
                                "access_key_id": {"type": "null"},
                                "secret_access_key": {"type": "null"},
                            }
                        },
                        {
                            "required": ["access_key_id", "secret_access_key"],
                            "properties": {
                                "access_key_id": {"type": "string"},
                                "secret_access_key": {"type": "string"},
                            },
                        },
                    ]
                },
            ]
        },
    )

    name: str = Field(pattern=STORAGE_NAME_PATTERN, max_length=63)
    type: Literal["local", "s3"]
    root_path: str | None = Field(
        default=None,
        max_length=4096,
        pattern=explained(
            r"^/$|^(/[^/\x00]{1,255})+/?$", "an absolute path (folder names of 1-255 characters)"
        ),
        description="An absolute path.",
    )
    endpoint_url: str | None = Field(default=None, max_length=2048, pattern=URL)
    sts_endpoint_url: str | None = Field(default=None, max_length=2048, pattern=URL)
    region: str | None = Field(
        default=None,
        max_length=63,
        pattern=explained(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", "an AWS region name such as 'eu-west-1'"),
    )
    access_key_id: str | None = Field(default=None, min_length=1, max_length=256, pattern=NO_NUL)
    secret_access_key: str | None = Field(default=None, min_length=1, max_length=1024, pattern=NO_NUL)
    role_arn: str | None = Field(
        default=None,
        max_length=2048,
        pattern=explained(r"^arn:[^\x00\s]+$", "an IAM role ARN ('arn:aws:iam::123456789012:role/name')"),
    )

    @model_validator(mode="after")
    def _consistent(self) -> ObjectStoreCreate:
        if self.type == "local" and not self.root_path:
            raise ValueError("a local object store needs root_path (an absolute path on the server's host)")
        if self.type == "s3" and self.root_path:
            raise ValueError(
                "root_path is for local object stores; an S3 store takes endpoint_url and region"
            )
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError(
                "give both access_key_id and secret_access_key, or neither (the server's default AWS chain)"
            )
        return self


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
    description: str = Text(2000, default="")
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
    name: str = Field(
        pattern=DATASET_NAME_PATTERN,
        max_length=80,
        description="Names ending in _featurestore or _models are reserved for projects' own datasets.",
        json_schema_extra={"not": {"pattern": "_(featurestore|models)$"}},
    )
    description: str = Text(2000, default="")


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
    sync_type: str | None = Field(default=None, description="'simplex' or 'duplex' while it syncs, else null")
    sync_policy: dict[str, Any] | None = Field(
        default=None, description="The sync policy (null: everything syncs)"
    )
    sync_source: str | None = Field(
        default=None, description="'<server>#<namespace>' it receives changes from"
    )


class PermissionSet(Strict):
    """Exactly one of ``user`` or ``project``; ``access`` None removes the grant."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["user"],
                    "properties": {"user": {"type": "string"}, "project": {"type": "null"}},
                },
                {
                    "required": ["project"],
                    "properties": {"project": {"type": "string"}, "user": {"type": "null"}},
                },
            ]
        },
    )

    user: str | None = Field(default=None, pattern=USER_NAME_PATTERN, max_length=32)
    project: str | None = Field(default=None, pattern=PROJECT_NAME_PATTERN, max_length=63)
    access: Literal["r", "rw"] | None

    @model_validator(mode="after")
    def _one_grantee(self) -> PermissionSet:
        if (self.user is None) == (self.project is None):
            raise ValueError("give exactly one of 'user' or 'project'")
        return self


class ObjectRecord(Strict):
    key: str = Field(min_length=1, max_length=1024, json_schema_extra={"pattern": OBJECT_KEY_PATTERN})
    size: JsonInt = Field(ge=0, le=MAX_INT)
    etag: str = Text(128, default="")
    metadata: Metadata = Field(default_factory=dict)


class ObjectOut(BaseModel):
    namespace: str
    dataset: str
    key: str
    size: JsonInt
    etag: str
    last_modified: datetime
    metadata: dict[str, str]


class SearchRequest(Strict):
    """``dataset`` needs ``namespace``; times are timezone-aware (RFC 3339 with an offset)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra=given_then("dataset", "namespace")
    )

    metadata: Metadata = Field(default_factory=dict)
    namespace: str | None = Field(default=None, pattern=STORAGE_NAME_PATTERN, max_length=63)
    dataset: str | None = Field(default=None, pattern=DATASET_NAME_PATTERN, max_length=80)
    modified_after: IsoDatetime | None = None
    modified_before: IsoDatetime | None = None
    limit: JsonInt = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _dataset_in_namespace(self) -> SearchRequest:
        if self.dataset is not None and self.namespace is None:
            raise ValueError("searching in a dataset needs its namespace too")
        return self


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
