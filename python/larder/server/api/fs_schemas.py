"""Pydantic schemas of the feature store routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from larder.names import FEATURE_GROUP_NAME_PATTERN, FEATURE_NAME_PATTERN, PROJECT_NAME_PATTERN
from larder.server.api.schemas import Strict

FeatureName = Field(pattern=FEATURE_NAME_PATTERN, max_length=63)
MAX_ID = 2**63 - 1  # ids are 64-bit in every database


class FeatureGroupCreate(Strict):
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    description: str = Field(default="", max_length=2000)
    primary_key: list[str] = Field(min_length=1, max_length=16)
    event_time: str | None = Field(default=None, max_length=63)
    partition_key: list[str] = Field(default_factory=list, max_length=8)
    online_enabled: bool = False
    statistics_enabled: bool = True


class FeatureSpec(Strict):
    name: str = Field(max_length=63)
    type: str = Field(max_length=200)


class Location(BaseModel):
    namespace: str
    dataset: str
    path: str


class FeatureGroupOut(BaseModel):
    id: int
    name: str
    version: int
    description: str
    primary_key: list[str]
    event_time: str | None
    partition_key: list[str]
    online_enabled: bool
    statistics_enabled: bool
    features: list[FeatureSpec] | None
    location: Location
    created_by: str
    created_at: datetime


class SchemaSet(Strict):
    features: list[FeatureSpec] = Field(min_length=1, max_length=2000)


MAX_DELTA_VERSION = 2**31 - 1
MAX_ROWS = 2**63 - 1


class CommitCreate(Strict):
    """A writer's Delta commit. The operation and row counts are taken from the Delta log; the
    fields here are accepted from older clients and ignored."""

    delta_version: int = Field(ge=0, le=MAX_DELTA_VERSION)
    write_id: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{8,64}$", description="the larder.write_id in the commit's metadata"
    )
    lease: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{8,64}$", description="the write lease to release"
    )
    operation: Literal["insert", "upsert", "overwrite"] | None = None
    rows_inserted: int = Field(default=0, ge=0, le=MAX_ROWS)
    rows_updated: int = Field(default=0, ge=0, le=MAX_ROWS)
    rows_deleted: int = Field(default=0, ge=0, le=MAX_ROWS)
    statistics: dict[str, Any] | None = None


class LeaseRequest(Strict):
    seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="how long the lease lasts unless renewed (default: the server's)",
    )


class LeaseOut(BaseModel):
    token: str
    expires_at: datetime
    seconds: float


class CommitOut(BaseModel):
    delta_version: int
    operation: str
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    committed_at: datetime
    statistics: dict[str, Any] | None
    recovered: bool = Field(
        default=False, description="registered by the server from the Delta log: no writer recorded it"
    )


class OnlineRead(Strict):
    keys: list[list[Any]] = Field(min_length=1, max_length=10_000)


class OnlineRows(BaseModel):
    rows: list[dict[str, Any] | None]


class QueryLeft(Strict):
    id: int = Field(ge=1, le=MAX_ID)
    project: str | None = Field(
        default=None,
        pattern=PROJECT_NAME_PATTERN,
        max_length=63,
        description="The project whose feature store holds the group (default: the view's project).",
    )
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: int = Field(ge=1, le=1_000_000)
    features: list[str] = Field(max_length=2000)


class QueryJoin(Strict):
    query: QuerySpec
    left_on: list[str] = Field(min_length=1, max_length=16)
    right_on: list[str] = Field(min_length=1, max_length=16)
    join_type: Literal["left", "inner"] = "left"
    prefix: str | None = Field(default=None, max_length=63)
    max_age_seconds: float | None = Field(default=None, ge=0)


class QuerySpec(Strict):
    """A feature view's query as the client serializes it (``Query.to_dict``)."""

    left: QueryLeft
    joins: list[QueryJoin] = Field(default_factory=list, max_length=32)
    filter: dict[str, Any] | None = None


QueryJoin.model_rebuild()


class FeatureViewCreate(Strict):
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    description: str = Field(default="", max_length=2000)
    query: QuerySpec
    labels: list[str] = Field(default_factory=list, max_length=100)


class FeatureViewOut(BaseModel):
    name: str
    version: int
    description: str
    query: dict[str, Any]
    labels: list[str]
    created_at: datetime


class TrainingDatasetCreate(Strict):
    description: str = Field(default="", max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class TrainingDatasetFinish(Strict):
    metadata: dict[str, Any] = Field(default_factory=dict)


class TrainingDatasetOut(BaseModel):
    version: int
    description: str
    location: Location
    metadata: dict[str, Any]
    created_at: datetime


class VectorRequest(Strict):
    entries: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    passed_features: list[dict[str, Any]] | None = None
    allow_missing: bool = False


class VectorResponse(BaseModel):
    features: list[str]
    vectors: list[list[Any]]
    missing: list[dict[str, Any]]
