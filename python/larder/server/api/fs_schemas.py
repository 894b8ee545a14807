"""Pydantic schemas of the feature store routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, StrictBool, StrictStr, Tag, field_validator

from larder.names import FEATURE_GROUP_NAME_PATTERN, FEATURE_NAME_PATTERN, PROJECT_NAME_PATTERN
from larder.server.api.schemas import (
    FINITE_JSON_OBJECT,
    MAX_INT,
    NO_NUL,
    FiniteJsonObject,
    IsoDate,
    IsoDatetime,
    JsonInt,
    Strict,
    Text,
)

FeatureName = Annotated[str, Field(pattern=FEATURE_NAME_PATTERN, max_length=63)]
MAX_ID = MAX_INT
MAX_FLOAT = 1.7976931348623157e308
# a key or feature value in a request: what an online key can be (the online store keys JSON of
# 64-bit integers, finite floats, strings, booleans)
Scalar = (
    Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    | Annotated[float, Field(ge=-MAX_FLOAT, le=MAX_FLOAT)]
    | Annotated[StrictStr, Field(max_length=4096, pattern=NO_NUL)]
    | StrictBool
    | None
)


class FeatureGroupCreate(Strict):
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: Annotated[JsonInt, Field(ge=1, le=1_000_000)] | None = None
    description: str = Text(2000, default="")
    primary_key: list[FeatureName] = Field(
        min_length=1, max_length=16, json_schema_extra={"uniqueItems": True}
    )
    event_time: str | None = Field(
        default=None, pattern=FEATURE_NAME_PATTERN, max_length=63, description="Not one of primary_key."
    )
    partition_key: list[FeatureName] = Field(default_factory=list, max_length=8)
    online_enabled: bool = False
    statistics_enabled: bool = True


class FeatureSpec(Strict):
    name: FeatureName
    type: str = Text(200, min_length=1)
    description: str = Text(2000, default="")


class Location(BaseModel):
    namespace: str
    dataset: str
    path: str


class FeatureGroupOut(BaseModel):
    id: JsonInt
    name: str
    version: JsonInt
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


class FeatureGroupUpdate(Strict):
    description: str | None = Text(2000, default=None)
    feature_descriptions: dict[FeatureName, Annotated[str, Text(2000)]] | None = Field(
        default=None,
        max_length=2000,
        description="New descriptions of some features, by name (the group needs its schema: insert first).",
    )


class SchemaSet(Strict):
    features: list[FeatureSpec] = Field(
        min_length=1,
        max_length=2000,
        description="Distinct names; they include the primary key and event time.",
    )


MAX_DELTA_VERSION = 2**31 - 1
MAX_ROWS = MAX_INT


class CommitCreate(Strict):
    """A writer's Delta commit. The operation and row counts are taken from the Delta log; the
    fields here are accepted from older clients and ignored."""

    delta_version: JsonInt = Field(ge=0, le=MAX_DELTA_VERSION)
    write_id: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{8,64}$", description="the larder.write_id in the commit's metadata"
    )
    lease: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{8,64}$", description="the write lease to release"
    )
    operation: Literal["insert", "upsert", "overwrite"] | None = None
    rows_inserted: JsonInt = Field(default=0, ge=0, le=MAX_ROWS)
    rows_updated: JsonInt = Field(default=0, ge=0, le=MAX_ROWS)
    rows_deleted: JsonInt = Field(default=0, ge=0, le=MAX_ROWS)
    statistics: FiniteJsonObject | None = Field(default=None, json_schema_extra=FINITE_JSON_OBJECT)


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
    delta_version: JsonInt
    operation: str
    rows_inserted: JsonInt
    rows_updated: JsonInt
    rows_deleted: JsonInt
    committed_at: datetime
    statistics: dict[str, Any] | None
    recovered: bool = Field(
        default=False, description="registered by the server from the Delta log: no writer recorded it"
    )


class OnlineRead(Strict):
    keys: list[Annotated[list[Scalar], Field(min_length=1, max_length=16)]] = Field(
        min_length=1, max_length=10_000, description="Each key: the primary key's values, in its order."
    )


class OnlineRows(BaseModel):
    rows: list[dict[str, Any] | None]


MAX_QUERY_DEPTH = 8
MAX_FILTER_DEPTH = 64
MAX_AGE_SECONDS = 100 * 366 * 86400.0


class TimeValue(Strict):
    ts: IsoDatetime = Field(alias="$ts")


class DateValue(Strict):
    date_: IsoDate = Field(alias="$date")


FilterScalar = Scalar | TimeValue | DateValue
FilterValue = FilterScalar | Annotated[list[FilterScalar], Field(max_length=10_000)]


class FilterTerm(Strict):
    """``feature`` of the group ``[name, version]`` compared by ``op`` with ``value``."""

    feature: FeatureName
    group: Annotated[
        tuple[
            Annotated[StrictStr, Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)],
            Annotated[JsonInt, Field(ge=1, le=1_000_000)],
        ],
        Field(strict=False, description="[name, version] of the feature group"),
    ]
    op: Literal["=", "<>", "<", "<=", ">", ">=", "IN", "LIKE", "IS NULL", "IS NOT NULL"]
    value: FilterValue = None


class FilterAndOr(Strict):
    logic: Literal["AND", "OR"]
    left: FilterSpec
    right: FilterSpec


class FilterNot(Strict):
    logic: Literal["NOT"]
    left: FilterSpec
    right: None = None


def _filter_kind(v: Any) -> str:
    logic = v.get("logic") if isinstance(v, dict) else getattr(v, "logic", None)
    return "term" if logic is None else ("not" if logic == "NOT" else "and_or")


# discriminated, so that validating a nested filter is linear in its size (a plain union of the
# three tries each member at every level: exponential in the depth, and it blocked the server)
FilterSpec = Annotated[
    Annotated[FilterTerm, Tag("term")]
    | Annotated[FilterAndOr, Tag("and_or")]
    | Annotated[FilterNot, Tag("not")],
    Discriminator(_filter_kind),
]


class QueryLeft(Strict):
    id: JsonInt = Field(ge=1, le=MAX_ID)
    project: str | None = Field(
        default=None,
        pattern=PROJECT_NAME_PATTERN,
        max_length=63,
        description="The project whose feature store holds the group (default: the view's project).",
    )
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: JsonInt = Field(ge=1, le=1_000_000)
    features: list[FeatureName] = Field(max_length=2000)
    named: bool = Field(
        default=False,
        description="The features were named by select([...]): a joined group's event time among them is returned.",
    )


class QueryJoin(Strict):
    query: QuerySpec
    left_on: list[FeatureName] = Field(min_length=1, max_length=16, description="As many as right_on.")
    right_on: list[FeatureName] = Field(min_length=1, max_length=16)
    join_type: Literal["left", "inner"] = "left"
    prefix: str | None = Field(default=None, max_length=63, pattern=FEATURE_NAME_PATTERN)
    max_age_seconds: float | None = Field(default=None, ge=0, le=MAX_AGE_SECONDS)


class QuerySpec(Strict):
    """A feature view's query as the client serializes it (``Query.to_dict``)."""

    left: QueryLeft
    joins: list[QueryJoin] = Field(default_factory=list, max_length=32)
    filter: FilterSpec | None = None


QueryJoin.model_rebuild()
FilterAndOr.model_rebuild()
FilterNot.model_rebuild()


def _depth(q: QuerySpec) -> int:
    return 1 + max((_depth(j.query) for j in q.joins), default=0)


def _filter_depth(f: Any) -> int:
    if isinstance(f, FilterTerm) or f is None:
        return 0
    return 1 + max(_filter_depth(f.left), _filter_depth(getattr(f, "right", None)))


class _UdfFields(Strict):
    name: FeatureName
    features: list[FeatureName] = Field(default_factory=list, max_length=100)
    output_names: list[FeatureName] | None = Field(default=None, max_length=10_000)
    return_types: list[
        Literal["int", "float", "str", "bool", "bytes", "datetime", "date", "time", "timestamp"]
    ] = Field(default_factory=list, max_length=100)
    arguments: list[FeatureName] = Field(default_factory=list, max_length=100)
    drop: list[FeatureName] = Field(default_factory=list, max_length=100)
    mode: Literal["default", "pandas", "python"] = "default"
    statistics_argument: FeatureName | None = None
    statistics_arguments: list[FeatureName] = Field(default_factory=list, max_length=100)


class UdfDefinition(_UdfFields):
    """A transformation function of a feature view as the client stores it: a built-in by name, or a
    custom udf with its Python source (the server stores it and never runs it)."""

    builtin: StrictBool = False
    source: str | None = Text(100_000, default=None)


class CustomUdfDefinition(_UdfFields):
    """A custom udf registered in a project (built-ins are always there): its source is required."""

    source: str = Text(100_000, min_length=1)


class FeatureViewCreate(Strict):
    name: str = Field(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63)
    version: Annotated[JsonInt, Field(ge=1, le=1_000_000)] | None = None
    description: str = Text(2000, default="")
    query: QuerySpec = Field(
        description=f"At most {MAX_QUERY_DEPTH} joins deep; filters at most {MAX_FILTER_DEPTH} deep."
    )
    labels: list[FeatureName] = Field(default_factory=list, max_length=100)
    transformation_functions: list[UdfDefinition] = Field(
        default_factory=list,
        max_length=500,
        description="The transformation functions the view applies (a custom udf with its source).",
    )

    @field_validator("query")
    @classmethod
    def _bounded(cls, q: QuerySpec) -> QuerySpec:
        stack = [q]
        while stack:
            node = stack.pop()
            if _filter_depth(node.filter) > MAX_FILTER_DEPTH:
                raise ValueError(f"a filter nests at most {MAX_FILTER_DEPTH} deep")
            for j in node.joins:
                if len(j.left_on) != len(j.right_on):
                    raise ValueError(
                        f"a join's left_on and right_on name as many columns ({j.left_on} vs {j.right_on})"
                    )
                stack.append(j.query)
        if _depth(q) > MAX_QUERY_DEPTH:
            raise ValueError(
                f"the query is {_depth(q)} joins deep; a feature view nests at most {MAX_QUERY_DEPTH}"
            )
        return q


class FeatureViewOut(BaseModel):
    name: str
    version: JsonInt
    description: str
    query: dict[str, Any]
    labels: list[str]
    transformation_functions: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime


class TrainingDatasetCreate(Strict):
    description: str = Text(2000, default="")
    metadata: FiniteJsonObject = Field(default_factory=dict, json_schema_extra=FINITE_JSON_OBJECT)


class TrainingDatasetFinish(Strict):
    metadata: FiniteJsonObject = Field(default_factory=dict, json_schema_extra=FINITE_JSON_OBJECT)


class TrainingDatasetOut(BaseModel):
    version: JsonInt
    description: str
    location: Location
    metadata: dict[str, Any]
    created_at: datetime


class VectorRequest(Strict):
    entries: list[dict[Annotated[str, Field(max_length=128)], Scalar]] = Field(
        min_length=1, max_length=10_000, description="One dict per vector: the key columns' values."
    )
    passed_features: (
        list[
            dict[
                Annotated[str, Field(max_length=128)],
                Scalar | Annotated[list[Scalar], Field(max_length=10_000)],
            ]
        ]
        | None
    ) = Field(default=None, max_length=10_000, description="One dict per entry (an empty one where none).")
    allow_missing: bool = False


class VectorResponse(BaseModel):
    features: list[str]
    vectors: list[list[Any]]
    missing: list[dict[str, Any]]
