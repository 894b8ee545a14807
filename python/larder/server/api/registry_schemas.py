"""Pydantic schemas of the model registry routes. Request bodies refuse unknown fields.

Metric values, model schemas, input examples and tag values are plain JSON here; the service
validates them (finite numbers, size limits) so that the messages name the offending value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_INT32 = 2**31 - 1
MAX_BYTES = 2**62

Framework = Literal["python", "sklearn", "torch", "tensorflow"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistryOut(BaseModel):
    """Where a registry's artifacts live and what the caller may do with it."""

    project: str
    namespace: str
    dataset: str
    object_store_type: str
    access: Literal["r", "rw"]
    shared_with: list[str]


class ModelSummaryOut(BaseModel):
    name: str
    versions: list[int]
    latest_version: int


class FeatureViewRef(BaseModel):
    feature_store: str
    name: str
    version: int


class ModelVersionCreate(_Strict):
    version: int | None = Field(default=None, ge=1, le=MAX_INT32)
    framework: Framework = "python"
    description: str = Field(default="", max_length=10_000)
    metrics: dict[str, Any] = Field(default_factory=dict)
    model_schema: Any = None
    input_example: Any = None
    feature_store: str | None = Field(default=None, max_length=80)
    feature_view_name: str | None = Field(default=None, max_length=63)
    feature_view_version: int | None = Field(default=None, ge=1, le=MAX_INT32)
    training_dataset_version: int | None = Field(default=None, ge=1, le=MAX_INT32)


class ModelVersionOut(BaseModel):
    project: str
    name: str
    version: int
    status: Literal["pending", "ready", "deleting"]
    framework: str
    description: str
    metrics: dict[str, float]
    model_schema: Any = None
    input_example: Any = None
    feature_view: FeatureViewRef | None = None
    training_dataset_version: int | None = None
    created_by: str
    created_at: datetime
    ready_at: datetime | None = None
    file_count: int
    total_size: int
    namespace: str
    dataset: str
    path: str = Field(description="The version's folder inside the dataset: '<name>/<version>'.")
    upload_token: str | None = Field(
        default=None,
        description="Only in the answer to the create call: proves later calls come from this save.",
    )


class UploadToken(_Strict):
    upload_token: str = Field(min_length=1, max_length=64)


class ArtifactIn(_Strict):
    path: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0, le=MAX_BYTES)
    checksum: str = Field(min_length=64, max_length=64)
    checksum_algorithm: Literal["sha256", "blake3"] = "sha256"
    part_size: int | None = Field(default=None, ge=1, le=MAX_BYTES)
    parts: list[str] | None = Field(default=None, max_length=10_000)


class ArtifactsRecord(UploadToken):
    files: list[ArtifactIn] = Field(min_length=1, max_length=1000)


class RecordedOut(BaseModel):
    recorded: int


class Finalize(UploadToken):
    file_count: int = Field(ge=1, le=MAX_INT32)
    total_size: int = Field(ge=0, le=MAX_BYTES)


class ArtifactOut(BaseModel):
    path: str
    size: int
    checksum: str
    checksum_algorithm: str
    part_size: int | None = None
    parts: list[str] | None = None


class TagSet(_Strict):
    value: Any


class TagOut(BaseModel):
    name: str
    value: Any


class CleanedVersion(BaseModel):
    name: str
    version: int


class CleanupOut(BaseModel):
    removed: list[CleanedVersion]
