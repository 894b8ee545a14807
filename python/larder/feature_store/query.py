"""Queries over feature groups, and point-in-time correct joins.

``fg.select([...]).join(other.select_all(), on=["key"])``: when both sides have an event time the
join is point-in-time correct: each left row gets the right row with the same keys and the latest
event time <= the left row's event time (no future leakage); ``max_age`` leaves older matches null.
Left rows with no earlier right row keep their place with null features.

What a query returns is its SQL (``to_string()``): duckdb ``ASOF LEFT JOIN``s over the Delta
tables' data (their Parquet files or Arrow tables: see ``_sources``), never a row_number()
self-join. It runs one of two ways, same rows and types:

- joins that give each left row at most one right row (point in time, or on the right's primary
  key) run as ``_pit`` matches (:func:`_matched`): one sorted search per join over packed (key,
  event time) codes, the joins in parallel threads, then the right columns taken at the matched
  rows. On 1M labels x 2 groups of 2.5M rows it takes less than half the user CPU time of the ASOF
  joins;
- everything else runs the SQL in duckdb (which can also spill to disk when the tables would not
  fit in memory).

A ``filter()`` is split at its top-level ANDs: the terms on the left group's columns alone keep its
rows before the joins (both ways), the others test the joined rows (duckdb evaluates them over the
matched values, or the SQL's WHERE does).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from larder import _memory
from larder.errors import InvalidArgumentError
from larder.feature_store import _frames, _sources
from larder.feature_store._sources import DeltaSource
from larder.feature_store.feature import Feature, Filter, Logic, _Condition, quote_ident

if TYPE_CHECKING:
    from larder.feature_store.feature_group import FeatureGroup

JOIN_TYPES = ("left", "inner")

# threads that read, match and take the joined tables' rows (see _matched)
_THREADS = max(2, min(4, os.cpu_count() or 2))


@dataclass
class Join:
    query: Query
    left_on: list[str]
    right_on: list[str]
    join_type: str = "left"
    prefix: str | None = None
    max_age: timedelta | None = None


@dataclass
class _Step:
    """One join of a plan as ``_pit.match`` runs it: each row of ``left`` (an alias, already aligned
    to ``fg0``'s rows) gets at most one row of ``right`` with the same ``left_on``/``right_on`` keys:
    the latest at or before its ``left_time`` (point in time), the latest of the right's primary key
    (only ``right_time``), or the only one (joined on the right's primary key, no event time).
    ``unique`` is False when the right side can give a left row several rows (a join on other columns
    than the right's primary key): then duckdb runs the SQL."""

    left: str
    right: str
    left_on: list[str]
    right_on: list[str]
    left_time: str | None
    right_time: str | None
    inner: bool
    unique: bool
    max_age: timedelta | None = None


@dataclass
class _Output:
    """One column of the result: ``alias``'s ``column``, named ``name``; ``aged`` when the join that
    brings ``alias`` has a ``max_age`` (older matches leave it null)."""

    name: str
    alias: str
    column: str
    aged: bool = False


@dataclass
class _Plan:
    """The SQL of a query, the tables its aliases name (``_sources.DeltaSource``), and the same
    query as joins ``_pit`` can run (``steps``, ``outputs``)."""

    sql: str
    tables: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    steps: list[_Step] = field(default_factory=list)
    outputs: list[_Output] = field(default_factory=list)
    # the filter split at its top-level ANDs: the terms that test only fg0's columns (SQL over
    # alias q, applied to fg0's rows before the joins), and the others (SQL over the aliases,
    # applied to the joined rows) with the columns they test, by alias
    left_filter: str | None = None
    joined_filter: str | None = None
    joined_filter_columns: dict[str, list[str]] = field(default_factory=dict)


class Query:
    """A selection of features from a feature group, joined with others, filtered, as of a time.

    Build one with ``fg.select_all()``, ``fg.select([...])`` or ``fg.select_except([...])``.

    Example:
        >>> q = flights.select_all().join(weather.select(["temp", "wind_speed"]), on=["origin"])  # doctest: +SKIP
        >>> df = q.read()                                           # doctest: +SKIP
        >>> print(q.to_string())                                    # the SQL  # doctest: +SKIP
    """

    def __init__(self, feature_group: FeatureGroup, features: list[str] | None) -> None:
        self._fg = feature_group
        self._features = features  # None: all
        self._joins: list[Join] = []
        self._filter: _Condition | None = None
        self._as_of: datetime | None = None

    def __repr__(self) -> str:
        return f"Query({self._fg.name} v{self._fg.version}, joins={len(self._joins)})"

    # --- building --------------------------------------------------------------------------------

    @property
    def feature_group(self) -> FeatureGroup:
        """The left (root) feature group."""
        return self._fg

    @property
    def features(self) -> list[Feature]:
        """The selected features of the left feature group."""
        names = self._features if self._features is not None else [f.name for f in self._fg.features]
        return [self._fg.get_feature(n) for n in names]

    def join(
        self,
        sub_query: Query,
        on: list[str] | None = None,
        left_on: list[str] | None = None,
        right_on: list[str] | None = None,
        join_type: str = "left",
        prefix: str | None = None,
        max_age: timedelta | None = None,
    ) -> Query:
        """Join another query; point-in-time correct when both sides have an event time.

        Args:
            sub_query (Query): the right side, e.g. ``weather.select(["temp"])``.
            on (list[str] | None): key columns with the same name on both sides. Default: the right
                feature group's primary key, when the left side has those columns.
            left_on (list[str] | None): the left side's key columns, when the names differ.
            right_on (list[str] | None): the right side's key columns, in the same order.
            join_type (str): ``"left"`` (default: every left row stays) or ``"inner"``.
            prefix (str | None): prepended to the right side's feature names in the result.
            max_age (timedelta | None): point-in-time joins only: a match older than this leaves
                the right features null.

        Returns:
            Query: this query (joins chain).

        Raises:
            InvalidArgumentError: no common key, unknown key columns, mismatched key lists, an
                unknown join type, or max_age on a join without event times.

        Example:
            >>> q = (flights.select_all()
            ...      .join(weather.select(["temp"]), on=["origin"], max_age=timedelta(hours=3))
            ...      .join(airports.select(["alt"]), left_on=["dest"], right_on=["faa"], prefix="dest_"))  # doctest: +SKIP
        """
        if not isinstance(sub_query, Query):
            raise InvalidArgumentError(
                f"join() takes a Query (e.g. fg.select_all()), not {type(sub_query).__name__}."
            )
        if join_type not in JOIN_TYPES:
            raise InvalidArgumentError(f"Unknown join_type {join_type!r}; use 'left' or 'inner'.")
        right_fg = sub_query._fg
        left_names = {f.name for f in self._fg.features}
        right_names = {f.name for f in right_fg.features}
        if on is not None:
            if left_on or right_on:
                raise InvalidArgumentError(
                    "Give either on=[...] or left_on=[...] with right_on=[...], not both."
                )
            left_on, right_on = list(on), list(on)
        elif left_on is None and right_on is None:
            if all(k in left_names for k in right_fg.primary_key):
                left_on, right_on = list(right_fg.primary_key), list(right_fg.primary_key)
            else:
                common = sorted((left_names & right_names) - {self._fg.event_time, right_fg.event_time})
                raise InvalidArgumentError(
                    f"No common key to join '{self._fg.name}' with '{right_fg.name}': the left side lacks "
                    f"{right_fg.primary_key} (the right primary key). Pass on=[...] or left_on/right_on"
                    + (f"; columns in both: {common}." if common else "."),
                    details={"left": self._fg.name, "right": right_fg.name},
                )
        if left_on is None or right_on is None or len(left_on) != len(right_on) or not left_on:
            raise InvalidArgumentError("left_on and right_on must be non-empty lists of the same length.")
        for c in left_on:
            if c not in left_names:
                raise InvalidArgumentError(
                    f"Join key {c!r} is not a feature of '{self._fg.name}'.", details={"key": c}
                )
        for c in right_on:
            if c not in right_names:
                raise InvalidArgumentError(
                    f"Join key {c!r} is not a feature of '{right_fg.name}'.", details={"key": c}
                )
        if max_age is not None and not (self._fg.event_time and right_fg.event_time):
            raise InvalidArgumentError(
                "max_age applies to point-in-time joins: both sides need an event time."
            )
        self._joins.append(Join(sub_query, list(left_on), list(right_on), join_type, prefix, max_age))
        return self

    def filter(self, condition: Filter | Logic) -> Query:
        """Keep the rows matching a condition; several calls combine with AND.

        Args:
            condition (Filter | Logic): a condition on the features of any feature group in the
                query, e.g. ``weather.temp > 10``.

        Returns:
            Query: this query.

        Raises:
            InvalidArgumentError: when ``condition`` is not a filter, or uses a feature group that is
                not in the query.

        Example:
            >>> q = flights.select_all().join(weather.select(["temp"]), on=["origin"])  # doctest: +SKIP
            >>> q.filter((weather.temp < 0) & (flights.origin == "JFK")).read()  # doctest: +SKIP
        """
        if not isinstance(condition, _Condition):
            raise InvalidArgumentError(
                f"filter() takes a condition such as fg.temp > 10, not {type(condition).__name__}."
            )
        groups = {id(g) for g in self._groups()}
        for f in condition.features():
            if f.feature_group is None or id(f.feature_group) not in groups:
                raise InvalidArgumentError(
                    f"The filter uses feature '{f.name}' of a feature group that is not in this query.",
                    details={"feature": f.name},
                )
        self._filter = condition if self._filter is None else Logic("AND", self._filter, condition)
        return self

    def as_of(self, wallclock_time: datetime | str | None) -> Query:
        """Read every feature group of the query as its table was at a past time (time travel).

        Args:
            wallclock_time (datetime | str | None): a timezone-aware time or ISO 8601 string (UTC);
                None: now.

        Returns:
            Query: this query.

        Example:
            >>> q.as_of(datetime(2024, 1, 1, tzinfo=timezone.utc)).read()  # doctest: +SKIP
        """
        from larder.feature_store.feature_group import _aware

        self._as_of = _aware(wallclock_time, "wallclock_time")
        return self

    def _groups(self) -> list[FeatureGroup]:
        out = [self._fg]
        for j in self._joins:
            out.extend(j.query._groups())
        return out

    # --- SQL ---------------------------------------------------------------------------------------

    def _plan(self, with_tables: bool) -> _Plan:
        aliases: dict[int, str] = {}
        tables: dict[str, Any] = {}
        select: list[str] = []
        out_names: list[str] = []
        joins_sql: list[str] = []
        steps: list[_Step] = []
        outputs: list[_Output] = []

        sources: dict[str, Query] = {}
        needed: dict[str, set[str]] = {}

        def alias_for(q: Query) -> str:
            key = id(q)
            if key not in aliases:
                a = f"fg{len(aliases)}"
                aliases[key] = a
                sources[a] = q
                fg = q._fg
                needed[a] = {f.name for f in q.features} | set(fg.primary_key)
                if fg.event_time:
                    needed[a].add(fg.event_time)
                for j in q._joins:
                    needed[a].update(j.left_on)
            return aliases[key]

        def add(col_sql: str, name: str, output: _Output) -> None:
            if name in out_names:
                raise InvalidArgumentError(
                    f"Two joined feature groups both provide a feature named '{name}'; pass prefix='...' to the join "
                    "(or select fewer features).",
                    details={"feature": name},
                )
            out_names.append(name)
            outputs.append(output)
            select.append(f"{col_sql} AS {quote_ident(name)}")

        def walk(q: Query, prefix: str, skip: set[str], age: tuple[str, str, timedelta] | None) -> None:
            a = alias_for(q)
            for f in q.features:
                if f.name in skip:
                    continue
                col = f"{a}.{quote_ident(f.name)}"
                if age is not None:
                    left_et, right_et, max_age = age
                    micros = int(max_age.total_seconds() * 1_000_000)
                    col = f"CASE WHEN {right_et} >= {left_et} - to_microseconds({micros}) THEN {col} END"
                add(col, prefix + f.name, _Output(prefix + f.name, a, f.name, age is not None))
            for j in q._joins:
                b = alias_for(j.query)
                needed[b].update(j.right_on)
                rfg, lfg = j.query._fg, q._fg
                conds = [
                    f"{a}.{quote_ident(lk)} = {b}.{quote_ident(rk)}"
                    for lk, rk in zip(j.left_on, j.right_on, strict=True)
                ]
                right_skip = set(j.right_on)
                sub_age = None
                point_in_time = bool(lfg.event_time and rfg.event_time)
                steps.append(
                    _Step(
                        a,
                        b,
                        list(j.left_on),
                        list(j.right_on),
                        lfg.event_time if point_in_time else None,
                        rfg.event_time,
                        j.join_type == "inner",
                        # at most one right row per left row: point in time; the latest row of the
                        # right's primary key; a join on (at least) the right's primary key
                        point_in_time
                        or (
                            set(rfg.primary_key) == set(j.right_on)
                            if rfg.event_time
                            else set(rfg.primary_key) <= set(j.right_on)
                        ),
                        j.max_age,
                    )
                )
                if lfg.event_time and rfg.event_time:
                    left_et = f"{a}.{quote_ident(lfg.event_time)}"
                    right_et = f"{b}.{quote_ident(rfg.event_time)}"
                    conds.append(f"{left_et} >= {right_et}")
                    kind = "ASOF LEFT JOIN" if j.join_type == "left" else "ASOF JOIN"
                    if (
                        rfg.event_time == lfg.event_time
                        or (prefix + (j.prefix or "") + rfg.event_time) in out_names
                    ):
                        right_skip.add(rfg.event_time)
                    if j.max_age is not None:
                        sub_age = (left_et, right_et, j.max_age)
                    source = b
                else:
                    kind = "LEFT JOIN" if j.join_type == "left" else "JOIN"
                    source = b
                    if rfg.event_time:  # latest row per key of the right side
                        keys = ", ".join(quote_ident(k) for k in rfg.primary_key)
                        source = (
                            f"(SELECT * FROM {b} QUALIFY row_number() OVER (PARTITION BY {keys} "  # noqa: S608
                            f"ORDER BY {quote_ident(rfg.event_time)} DESC) = 1) AS {b}"
                        )
                joins_sql.append(f"{kind} {source} ON {' AND '.join(conds)}")
                walk(j.query, prefix + (j.prefix or ""), right_skip, sub_age)

        walk(self, "", set(), None)
        if with_tables:
            by_group = {id(q._fg): a for a, q in sources.items()}
            for f in self._filter.features() if self._filter is not None else []:
                if f.feature_group is not None and id(f.feature_group) in by_group:
                    needed[by_group[id(f.feature_group)]].add(f.name)
            for a, q in sources.items():
                # only the needed columns, as Parquet files duckdb reads or Arrow tables (_sources)
                tables[a] = DeltaSource(q._fg._delta(wallclock_time=self._as_of), needed[a])
        sql = f"SELECT {', '.join(select)}\nFROM fg0"  # noqa: S608 - identifiers are quoted, values are literals
        if joins_sql:
            sql += "\n" + "\n".join(joins_sql)
        plan = _Plan(sql, tables, out_names, steps, outputs)
        if self._filter is not None:
            plan.sql += "\nWHERE " + self._filter_sql(aliases, plan)
        return plan

    def _filter_sql(self, aliases: dict[int, str], plan: _Plan) -> str:
        """The filter as SQL over the plan's aliases; also sets the plan's ``left_filter`` and
        ``joined_filter`` (the same filter, split at its top-level ANDs). Filtering the left rows
        before the joins keeps the same rows: each joins independently of the others."""
        by_group: dict[int, str] = {}

        def visit(q: Query) -> None:
            by_group.setdefault(id(q._fg), aliases[id(q)])
            for j in q._joins:
                visit(j.query)

        visit(self)

        def alias_of(f: Feature) -> str:
            assert f.feature_group is not None
            return by_group[id(f.feature_group)]

        def render(c: _Condition, rename: dict[str, str]) -> str:
            if isinstance(c, Filter):
                a = alias_of(c.feature)
                return c.to_sql(rename.get(a, a))
            assert isinstance(c, Logic)
            if c.op == "NOT":
                return f"(NOT {render(c.left, rename)})"
            assert c.right is not None
            return f"({render(c.left, rename)} {c.op} {render(c.right, rename)})"

        def terms(c: _Condition) -> list[_Condition]:
            if isinstance(c, Logic) and c.op == "AND":
                assert c.right is not None
                return terms(c.left) + terms(c.right)
            return [c]

        assert self._filter is not None
        left: list[_Condition] = []
        joined: list[_Condition] = []
        for t in terms(self._filter):
            (left if {alias_of(f) for f in t.features()} == {"fg0"} else joined).append(t)
        if left:
            plan.left_filter = " AND ".join(render(t, {"fg0": "q"}) for t in left)
        if joined:
            plan.joined_filter = " AND ".join(render(t, {}) for t in joined)
            for t in joined:
                for f in t.features():
                    cols = plan.joined_filter_columns.setdefault(alias_of(f), [])
                    if f.name not in cols:
                        cols.append(f.name)
        return render(self._filter, {})

    def to_string(self) -> str:
        """The duckdb SQL this query runs (tables are named ``fg0``, ``fg1``, ... in join order).

        Returns:
            str: the SQL; point-in-time joins show as ``ASOF LEFT JOIN``.

        Example:
            >>> print(q.to_string())  # doctest: +SKIP
            SELECT fg0."flight_id" AS "flight_id", ..., fg1."temp" AS "temp"
            FROM fg0
            ASOF LEFT JOIN fg1 ON fg0."origin" = fg1."origin" AND fg0."time_hour" >= fg1."time_hour"
        """
        return self._plan(with_tables=False).sql

    # --- running -----------------------------------------------------------------------------------

    def _arrow(self, extra_where: str | None = None, order_by: list[str] | None = None) -> Any:
        """Run the query into an Arrow table.

        ``extra_where`` keeps the left feature group's rows that match it (SQL over its columns,
        alias ``q``), before the joins; ``order_by`` sorts the result by those output columns
        (those the query has). Joins that give each left row at most one right row run as ``_pit``
        matches (:func:`_matched`); other queries run the SQL in duckdb (with the order in duckdb's
        parallel sort: 3x faster than sorting the Arrow result). Either way the filter's terms on the
        left group alone keep its rows before the joins."""
        self._fg._fs._require_data("read")
        plan = self._plan(with_tables=True)
        order = [c for c in order_by or [] if c in plan.columns]
        con = _sources.connect(*plan.tables.values())
        try:
            _register(con, plan, ["fg0"], _left_where(plan, extra_where))
            table = _matched(con, plan, order)  # registers the right tables its own way
            if table is not None:
                return table
            _register(con, plan, [a for a in plan.tables if a != "fg0"], None)
            sql = plan.sql
            if order:
                by = ", ".join(f"q.{quote_ident(c)}" for c in order)
                sql = f"SELECT * FROM ({sql}) AS q ORDER BY {by}"  # noqa: S608 - identifiers are quoted
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()

    def read(self, dataframe_type: str = "pandas") -> Any:
        """Run the query and return the rows (in no particular order).

        Args:
            dataframe_type (str): ``"pandas"`` (default), ``"polars"``, ``"pyarrow"``, ``"numpy"``
                or ``"python"`` (a list of rows).

        Returns:
            Any: the rows in the requested type.

        Example:
            >>> df = flights.select_all().join(weather.select(["temp"]), on=["origin"]).read()  # doctest: +SKIP
        """
        _frames.check_dataframe_type(dataframe_type)
        return _frames.from_arrow(self._arrow(), dataframe_type)

    def show(self, n: int = 10) -> Any:
        """The first rows as a pandas DataFrame.

        Args:
            n (int): how many rows (default 10).

        Returns:
            pandas.DataFrame: at most ``n`` rows.

        Example:
            >>> q.show(5)  # doctest: +SKIP
        """
        return _frames.from_arrow(self._arrow().slice(0, n), "pandas")

    # --- serialization (feature views store their query) ------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description of the query, as feature views store it.

        Returns:
            dict: ``{"left": {"id", "project", "name", "version", "features"}, "joins": [...],
            "filter": ...}``; ``project`` is the project whose feature store holds the group.

        Example:
            >>> weather.select(["temp"]).to_dict()["left"]  # doctest: +SKIP
            {'id': 1, 'project': 'flights', 'name': 'weather', 'version': 1, 'features': ['temp']}
        """
        return {
            "left": {
                "id": self._fg._id,
                "project": self._fg._fs.project,
                "name": self._fg.name,
                "version": self._fg.version,
                "features": [f.name for f in self.features],
            },
            "joins": [
                {
                    "query": j.query.to_dict(),
                    "left_on": j.left_on,
                    "right_on": j.right_on,
                    "join_type": j.join_type,
                    "prefix": j.prefix,
                    "max_age_seconds": j.max_age.total_seconds() if j.max_age is not None else None,
                }
                for j in self._joins
            ],
            "filter": _condition_to_dict(self._filter) if self._filter is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], groups: dict[tuple[str, str, int], FeatureGroup]) -> Query:
        """Rebuild a query from :meth:`to_dict`'s output.

        Args:
            data (dict): what :meth:`to_dict` returned.
            groups (dict[tuple[str, str, int], FeatureGroup]): the feature groups it names, by
                ``(project, name, version)``.

        Returns:
            Query: the rebuilt query.

        Example:
            >>> q2 = Query.from_dict(q.to_dict(), {("p", "weather", 1): weather, ("p", "flights", 1): flights})  # doctest: +SKIP
        """
        left = data["left"]
        fg = groups[(left["project"], left["name"], left["version"])]
        q = cls(fg, list(left["features"]))
        for j in data.get("joins", []):
            age = j.get("max_age_seconds")
            q._joins.append(
                Join(
                    cls.from_dict(j["query"], groups),
                    list(j["left_on"]),
                    list(j["right_on"]),
                    j.get("join_type", "left"),
                    j.get("prefix"),
                    timedelta(seconds=age) if age is not None else None,
                )
            )
        if data.get("filter"):
            by_name = {(g.name, g.version): g for g in q._groups()}
            q._filter = _condition_from_dict(data["filter"], by_name)
        return q


def _register(con: Any, plan: _Plan, aliases: list[str], extra_where: str | None) -> None:
    """Name the plan's tables ``aliases`` in ``con``; ``fg0`` holds only the left rows that match
    ``extra_where`` (SQL over its columns, alias ``q``) when one is given."""
    for alias in aliases:
        if alias == "fg0" and extra_where:
            plan.tables[alias].register(con, "fg0_rows")
            con.sql(f"SELECT * FROM fg0_rows AS q WHERE {extra_where}").create_view("fg0")  # noqa: S608
        else:
            plan.tables[alias].register(con, alias)


def _left_where(plan: _Plan, extra_where: str | None) -> str | None:
    """The condition on ``fg0``'s rows (alias ``q``): the caller's and the filter's left terms."""
    parts = [f"({w})" for w in (extra_where, plan.left_filter) if w]
    return " AND ".join(parts) or None


def _matched(con: Any, plan: _Plan, order: list[str]) -> Any | None:
    """The query's rows with its joins run as ``_pit`` matches, or None when duckdb must run the SQL:
    a join that can give a left row several rows, key or time types ``_pit`` does not compare, or an
    ``order`` column that is not the left group's own.

    The left table's needed columns are read through ``con`` (its view ``fg0``, which the caller's
    ``extra_where`` may filter) and its rows put in ``order``. Each join reads its right table
    through a connection of its own and finds, for every left row, the index of its right row (or
    none), the left side's keys taken at the indices of the joins before it; joins whose left side is
    ready run in parallel threads. Then every output column is taken at its table's indices, so that
    no right row is copied that no left row needs. Same rows and types as the SQL (``to_string()``).
    """
    import numpy as np
    import pyarrow as pa

    from larder.feature_store import _pit

    if not plan.steps or not all(s.unique for s in plan.steps):
        return None
    own = {o.name for o in plan.outputs if o.alias == "fg0" and o.column == o.name}
    if any(c not in own for c in order) or not _fits_in_memory(plan):
        return None

    def read(alias: str, on: Any) -> Any:
        cols = ", ".join(quote_ident(c) for c in plan.tables[alias].columns)
        return on.sql(f"SELECT {cols} FROM {alias}").to_arrow_table()  # noqa: S608 - quoted

    tables = {"fg0": read("fg0", con)}
    if order:
        rows = _pit.sort_order([tables["fg0"][c] for c in order])
        if rows is not None:
            tables["fg0"] = tables["fg0"].take(rows)
    takes: dict[str, _pit.Take | None] = {"fg0": None}  # each alias's row for every left row
    matches: dict[str, tuple[Any, Any]] = {}  # the same as (index, found) arrays
    fresh: dict[str, Any] = {}  # where a join's max_age keeps its match
    keep = None  # inner joins and the filter's joined terms: the left rows that stay

    def aligned(alias: str, column: str) -> Any:
        take = takes[alias]
        return tables[alias][column] if take is None else take(tables[alias][column])

    def join(s: _Step) -> tuple[Any, Any, Any, Any] | None:
        """Read the right table (its own connection: joins run in parallel) and match it."""
        con_right = _sources.connect(plan.tables[s.right])
        try:
            _register(con_right, plan, [s.right], None)
            right = read(s.right, con_right)
        finally:
            con_right.close()
        left_time = aligned(s.left, s.left_time) if s.left_time else None
        rows = _pit.match(
            [aligned(s.left, c) for c in s.left_on],
            left_time,
            [right[c] for c in s.right_on],
            right[s.right_time] if s.right_time else None,
        )
        return None if rows is None else (right, *rows, left_time)

    # the joins whose left side is aligned run together (numpy and duckdb release the GIL); on two
    # cores, two joins take little more than one
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        pending = list(plan.steps)
        while pending:
            ready = [s for s in pending if s.left in takes]
            pending = [s for s in pending if s.left not in takes]
            if not ready:  # a join whose left side no other join brings: not a plan _plan makes
                return None
            for s, done in zip(ready, pool.map(join, ready), strict=True):
                if done is None:
                    return None
                right, index, found, left_time = done
                tables[s.right] = right
                takes[s.right] = _pit.Take(index, found)
                matches[s.right] = (index, found)
                if s.inner:
                    keep = found if keep is None else keep & found
                if s.max_age is not None and left_time is not None and s.right_time:
                    fresh[s.right] = _pit.within(left_time, aligned(s.right, s.right_time), s.max_age)

        if plan.joined_filter is not None:
            # the terms over joined rows, as the SQL's WHERE: duckdb over one struct column per
            # alias (fg1."temp" reads a struct's field), the values as joined (before max_age)
            tested = pa.table(
                {
                    a: pa.StructArray.from_arrays([_array(aligned(a, c)) for c in cols], names=cols)
                    for a, cols in plan.joined_filter_columns.items()
                }
            )
            con.register("joined_rows", tested)
            sql = f"SELECT coalesce({plan.joined_filter}, false) FROM joined_rows"  # noqa: S608
            passed = next(iter(con.sql(sql).fetchnumpy().values()))
            con.unregister("joined_rows")
            keep = passed if keep is None else keep & passed

        # the output columns are taken only at the rows that stay
        final = takes
        if keep is not None and not keep.all():
            stay = np.flatnonzero(keep)
            matches = {a: (index[stay], found[stay]) for a, (index, found) in matches.items()}
            fresh = {a: f[stay] for a, f in fresh.items()}
            final = {"fg0": _pit.Take(stay, np.ones(len(stay), bool))}
            final.update({a: _pit.Take(index, found) for a, (index, found) in matches.items()})
        aged = {a: _pit.Take(matches[a][0], matches[a][1] & f) for a, f in fresh.items()}

        def output(o: _Output) -> Any:
            take = aged[o.alias] if o.aged and o.alias in aged else final[o.alias]
            col = tables[o.alias][o.column]
            return col if take is None else take(col)

        columns = list(pool.map(output, plan.outputs))
    return pa.Table.from_arrays(columns, names=[o.name for o in plan.outputs])


def _array(values: Any) -> Any:
    """One Arrow array of a column's values (a table's column is chunked)."""
    import pyarrow as pa

    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _fits_in_memory(plan: _Plan) -> bool:
    """Whether the tables' needed columns (~8 bytes a value) fit in a third of the memory this
    process can still use (``_memory.available_bytes``: a container's limit counts): ``_matched``
    holds them all in Arrow, where duckdb's ASOF join can spill to disk."""
    free = _memory.available_bytes()
    if free is None:  # not on this OS: no limit known
        return True
    need = 0
    for source in plan.tables.values():
        rows = source.rows
        if rows is None:
            return True
        need += rows * len(source.columns) * 8
    return need <= free // 3


def _value_to_json(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"$ts": v.isoformat()}
    if isinstance(v, date):
        return {"$date": v.isoformat()}
    if isinstance(v, list):
        return [_value_to_json(x) for x in v]
    return v


def _value_from_json(v: Any) -> Any:
    if isinstance(v, dict) and "$ts" in v:
        return datetime.fromisoformat(v["$ts"])
    if isinstance(v, dict) and "$date" in v:
        return date.fromisoformat(v["$date"])
    if isinstance(v, list):
        return [_value_from_json(x) for x in v]
    return v


def _condition_to_dict(c: _Condition) -> dict[str, Any]:
    if isinstance(c, Filter):
        fg = c.feature.feature_group
        assert fg is not None
        return {
            "feature": c.feature.name,
            "group": [fg.name, fg.version],
            "op": c.op,
            "value": _value_to_json(c.value),
        }
    assert isinstance(c, Logic)
    return {
        "logic": c.op,
        "left": _condition_to_dict(c.left),
        "right": _condition_to_dict(c.right) if c.right is not None else None,
    }


def _condition_from_dict(d: dict[str, Any], groups: dict[tuple[str, int], FeatureGroup]) -> _Condition:
    if "logic" in d:
        right = _condition_from_dict(d["right"], groups) if d.get("right") else None
        return Logic(d["logic"], _condition_from_dict(d["left"], groups), right)
    fg = groups[(d["group"][0], d["group"][1])]
    return Filter(fg.get_feature(d["feature"]), d["op"], _value_from_json(d["value"]))


def dumps(query: Query) -> str:
    return json.dumps(query.to_dict())
