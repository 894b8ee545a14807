"""Pydantic schemas of the model registry routes. Request bodies refuse unknown fields.

Metric values, model schemas, input examples and tag values are plain JSON here; the service
validates them (finite numbers, size limits) so that the messages name the offending value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from larder.names import OBJECT_KEY_PATTERN, PROJECT_NAME_PATTERN
from larder.server.api.params import explained
from larder.server.api.schemas import FINITE_JSON, MAX_INT, FiniteJsonValue, JsonInt, Text

MAX_INT32 = 2**31 - 1
MAX_BYTES = MAX_INT
MAX_FLOAT = 1.7976931348623157e308
HEX64 = explained(r"^[0-9a-f]{64}$", "a checksum: 64 lowercase hex digits")
MetricName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]*$")]
MetricValue = Annotated[float, Field(ge=-MAX_FLOAT, le=MAX_FLOAT)]

Framework = Literal["python", "sklearn", "torch", "tensorflow"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


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
    versions: list[JsonInt]
    latest_version: JsonInt


class FeatureViewRef(BaseModel):
    feature_store: str
    name: str
    version: JsonInt


class ModelVersionCreate(_Strict):
    """Lineage: ``feature_view_name`` and ``feature_view_version`` come together."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "feature_view_name": {"type": "null"},
                        "feature_view_version": {"type": "null"},
                    }
                },
                {
                    "required": ["feature_view_name", "feature_view_version"],
                    "properties": {
                        "feature_view_name": {"type": "string"},
                        "feature_view_version": {"type": "integer"},
                    },
                },
            ]
        },
    )

    version: Annotated[JsonInt, Field(ge=1, le=MAX_INT32)] | None = None
    framework: Framework = "python"
    description: str = Text(10_000, default="")
    metrics: dict[MetricName, MetricValue] = Field(default_factory=dict, max_length=200)
    model_schema: FiniteJsonValue = Field(default=None, json_schema_extra=FINITE_JSON)
    input_example: FiniteJsonValue = Field(default=None, json_schema_extra=FINITE_JSON)
    feature_store: str | None = Field(
        default=None, max_length=80, pattern=PROJECT_NAME_PATTERN[:-1] + "(_featurestore)?$"
    )
    feature_view_name: str | None = Field(default=None, max_length=63, pattern=r"^[A-Za-z0-9_.-]{1,63}$")
    feature_view_version: Annotated[JsonInt, Field(ge=1, le=MAX_INT32)] | None = None
    training_dataset_version: Annotated[JsonInt, Field(ge=1, le=MAX_INT32)] | None = None


class ModelVersionOut(BaseModel):
    project: str
    name: str
    version: JsonInt
    status: Literal["pending", "ready", "deleting"]
    framework: str
    description: str
    metrics: dict[str, float]
    model_schema: Any = None
    input_example: Any = None
    feature_view: FeatureViewRef | None = None
    training_dataset_version: JsonInt | None = None
    created_by: str
    created_at: datetime
    ready_at: datetime | None = None
    file_count: JsonInt
    total_size: JsonInt
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
    path: str = Field(min_length=1, max_length=1024, json_schema_extra={"pattern": OBJECT_KEY_PATTERN})
    size: JsonInt = Field(ge=0, le=MAX_BYTES)
    checksum: str = Field(min_length=64, max_length=64, pattern=HEX64)
    checksum_algorithm: Literal["sha256", "blake3"] = "sha256"
    part_size: Annotated[JsonInt, Field(ge=1, le=MAX_BYTES)] | None = None
    parts: list[Annotated[str, Field(pattern=HEX64)]] | None = Field(default=None, max_length=10_000)


class ArtifactsRecord(UploadToken):
    files: list[ArtifactIn] = Field(min_length=1, max_length=1000)


class RecordedOut(BaseModel):
    recorded: JsonInt


class Finalize(UploadToken):
    file_count: JsonInt = Field(ge=1, le=MAX_INT32)
    total_size: JsonInt = Field(ge=0, le=MAX_BYTES)


class ArtifactOut(BaseModel):
    path: str
    size: JsonInt
    checksum: str
    checksum_algorithm: str
    part_size: JsonInt | None = None
    parts: list[str] | None = None


class TagSet(_Strict):
    value: FiniteJsonValue = Field(json_schema_extra=FINITE_JSON)


class TagOut(BaseModel):
    name: str
    value: Any


class CleanedVersion(BaseModel):
    name: str
    version: JsonInt


class CleanupOut(BaseModel):
    removed: list[CleanedVersion]
