"""Engine-neutral query plans: what a query reads, joins, keeps and returns, as plain values.

The feature store (``larder.feature_store``) builds a :class:`QueryPlan` from a ``Query``; every
engine compiles it its own way: the python engine to its sorted-search matcher or to duckdb SQL,
the spark engine to Spark. A plan names its tables by alias (``fg0`` is the left, root feature
group; ``fg1``, ``fg2``, ... the joined ones in join order) and holds no SQL and no data library's
object, so engines import this module and never the feature store.

Example:
    >>> from larder.plan import Term, Bool, split_and
    >>> cond = Bool("AND", Term("fg0", "temp", ">", 10), Term("fg1", "origin", "=", "JFK"))
    >>> [t.alias for t in split_and(cond)]
    ['fg0', 'fg1']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from larder.errors import InvalidArgumentError

OPERATORS = ("=", "<>", "<", "<=", ">", ">=", "IN", "LIKE", "IS NULL", "IS NOT NULL")
"""The comparison operators of a :class:`Term` (the SQL names)."""


@dataclass(frozen=True)
class TableRef:
    """A feature group's table, as an engine reaches it.

    Attributes:
        name (str): the feature group's name.
        version (int): its version.
        uri (str): the Delta table's URI (``file:///...``, ``s3://bucket/...``).
        storage_options (dict[str, str] | None): object-store settings and the short-lived,
            dataset-scoped credentials the platform vended (secrets: never in a repr).
        primary_key (tuple[str, ...]): the primary key columns.
        event_time (str | None): the event time column.
        partition_key (tuple[str, ...]): the Delta partition columns.
    """

    name: str
    version: int
    uri: str
    storage_options: dict[str, str] | None = field(default=None, repr=False, compare=False)
    primary_key: tuple[str, ...] = ()
    event_time: str | None = None
    partition_key: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        """The upsert key: the primary key, and the event time when the group has one."""
        return [*self.primary_key, *([self.event_time] if self.event_time else [])]


@dataclass(frozen=True)
class Source:
    """One table of a plan: ``alias`` reads these ``columns`` of ``table`` (as of the plan's time)."""

    alias: str
    table: TableRef
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One join: each row of ``left`` (an alias, already aligned to ``fg0``'s rows) gets at most one
    row of ``right`` with the same ``left_on``/``right_on`` keys: the latest at or before its
    ``left_time`` (point in time, both times set), the latest of the right's primary key (only
    ``right_time``), or the only one (joined on the right's primary key, no event time).
    ``unique`` is False when the right side can give a left row several rows (a join on other
    columns than the right's primary key). ``inner`` drops left rows without a match; ``max_age``
    (point in time only) leaves older matches' features null."""

    left: str
    right: str
    left_on: list[str]
    right_on: list[str]
    left_time: str | None
    right_time: str | None
    inner: bool
    unique: bool
    max_age: timedelta | None = None

    @property
    def point_in_time(self) -> bool:
        return bool(self.left_time and self.right_time)

    @property
    def latest_only(self) -> bool:
        """The right side is reduced to its latest row per primary key before the join."""
        return not self.point_in_time and bool(self.right_time)


@dataclass(frozen=True)
class Output:
    """One column of the result: ``alias``'s ``column``, named ``name``; ``aged`` when the join that
    brings ``alias`` has a ``max_age`` (older matches leave it null)."""

    name: str
    alias: str
    column: str
    aged: bool = False


@dataclass(frozen=True)
class Term:
    """``alias.column op value``: one comparison (see :data:`OPERATORS`); ``value`` is a list for
    ``IN`` and None for the null tests."""

    alias: str
    column: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Bool:
    """Conditions combined: ``"AND"``, ``"OR"`` (two operands) or ``"NOT"`` (``right`` is None)."""

    op: str
    left: Term | Bool
    right: Term | Bool | None = None


Condition = Term | Bool


@dataclass
class QueryPlan:
    """A query as plain values: its tables, joins, output columns, filter and time.

    Attributes:
        sources (dict[str, Source]): by alias, ``fg0`` (the left group) first.
        steps (list[Step]): the joins, in order (a step's left alias is ``fg0`` or a step's right).
        outputs (list[Output]): the result's columns, in order.
        filter (Condition | None): the rows to keep (over the joined rows, as SQL's WHERE).
        as_of (datetime | None): read every table as it was then (UTC); None: now.
    """

    sources: dict[str, Source]
    steps: list[Step] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    filter: Condition | None = None
    as_of: datetime | None = None

    @property
    def columns(self) -> list[str]:
        """The result's column names, in order."""
        return [o.name for o in self.outputs]

    def step_into(self, alias: str) -> Step | None:
        """The join that brings ``alias`` (None for ``fg0``)."""
        return next((s for s in self.steps if s.right == alias), None)


def split_and(cond: Condition) -> list[Condition]:
    """A condition's top-level AND terms (one term when it is no AND)."""
    if isinstance(cond, Bool) and cond.op == "AND":
        assert cond.right is not None
        return split_and(cond.left) + split_and(cond.right)
    return [cond]


def terms_of(cond: Condition | None) -> list[Term]:
    """Every comparison of a condition, left to right."""
    if cond is None:
        return []
    if isinstance(cond, Term):
        return [cond]
    return terms_of(cond.left) + terms_of(cond.right)


def aliases_of(cond: Condition) -> set[str]:
    """The aliases a condition tests."""
    return {t.alias for t in terms_of(cond)}


def check_value(value: Any) -> Any:
    """Check that ``value`` can be compared in a filter: None, a bool, a number, a string, a date or
    a datetime (a numpy scalar is taken as its value). A naive datetime is taken as UTC, as hsfs
    does, with a :class:`~larder.errors.NaiveTimeWarning`.

    Raises:
        InvalidArgumentError: for a value of another type.

    Example:
        >>> check_value(10)
        10
    """
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            from larder._time import warn_naive

            warn_naive(
                f"The filter value {value.isoformat()} has no time zone; it is taken as UTC (as hsfs does). Pass "
                "a timezone-aware datetime to be explicit, e.g. datetime(..., tzinfo=timezone.utc)."
            )
            return value.replace(tzinfo=timezone.utc)
        return value
    if isinstance(value, date):
        return value
    raise InvalidArgumentError(f"Cannot use a {type(value).__name__} value in a filter: {value!r}.")
