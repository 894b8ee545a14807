"""Queries over feature groups, and point-in-time correct joins.

``fg.select([...]).join(other.select_all(), on=["key"])``: when both sides have an event time the
join is point-in-time correct: each left row gets the right row with the same keys and the latest
event time <= the left row's event time (no future leakage); ``max_age`` leaves older matches null.
Left rows with no earlier right row keep their place with null features.

A query is a plan (``larder.plan.QueryPlan``: its tables, joins, output columns, filter and time),
which the connection's engine runs. What a query returns on the python engine is its SQL
(``to_string()``): duckdb ``ASOF LEFT JOIN``s over the Delta tables' data, never a row_number()
self-join; the engine runs the joins that give each left row at most one right row as its own
sorted-search matches, with the same rows and types (see ``larder.engine.python.query``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from larder.errors import InvalidArgumentError
from larder.feature_store.feature import Feature, Filter, Logic, _Condition
from larder.plan import Bool, Condition, Output, QueryPlan, Source, Step, Term, terms_of

if TYPE_CHECKING:
    from larder.feature_store.feature_group import FeatureGroup

JOIN_TYPES = ("left", "inner")


@dataclass
class Join:
    query: Query
    left_on: list[str]
    right_on: list[str]
    join_type: str = "left"
    prefix: str | None = None
    max_age: timedelta | None = None


class Query:
    """A selection of features from a feature group, joined with others, filtered, as of a time.

    Build one with ``fg.select_all()``, ``fg.select([...])`` or ``fg.select_except([...])``.

    Example:
        >>> q = flights.select_all().join(weather.select(["temp", "wind_speed"]), on=["origin"])  # doctest: +SKIP
        >>> df = q.read()                                           # doctest: +SKIP
        >>> print(q.to_string())                                    # the SQL  # doctest: +SKIP
    """

    def __init__(self, feature_group: FeatureGroup, features: list[str] | None, named: bool = False) -> None:
        self._fg = feature_group
        self._features = features  # None: all
        # the features were named one by one (select([...])), not implied (select_all/select_except):
        # a joined group's event time named so is returned (see _plan)
        self._named = named and features is not None
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
                feature group's primary key, when the left side has those columns; else, as hsfs,
                the largest common subset of the two groups' primary keys (right key order), e.g.
                ``sk_id_curr`` for a left key ``["sk_id_curr"]`` and a right key
                ``["sk_id_prev", "sk_id_curr"]``.
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
            shared = [k for k in right_fg.primary_key if k in self._fg.primary_key]
            if all(k in left_names for k in right_fg.primary_key):
                left_on, right_on = list(right_fg.primary_key), list(right_fg.primary_key)
            elif shared:  # hsfs: the largest common subset of the two primary keys
                left_on, right_on = list(shared), list(shared)
            else:
                common = sorted((left_names & right_names) - {self._fg.event_time, right_fg.event_time})
                raise InvalidArgumentError(
                    f"No common key to join '{self._fg.name}' with '{right_fg.name}': the left side lacks "
                    f"{right_fg.primary_key} (the right primary key), and the primary keys "
                    f"{self._fg.primary_key} and {right_fg.primary_key} share no column. Pass on=[...] or "
                    "left_on/right_on" + (f"; columns in both: {common}." if common else "."),
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
            wallclock_time (datetime | date | str | int | None): a datetime, a date, a string
                (ISO 8601, ``"%Y-%m-%d"``, ``"%Y-%m-%d %H:%M:%S"``) or epoch milliseconds; naive
                values are UTC (see :mod:`larder._time`); None: now.

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

    def _plan(self, with_tables: bool = True) -> QueryPlan:
        """The query as an engine-neutral plan (``larder.plan``). ``with_tables`` names each
        table's location (a REST call per feature store); without, the plan is for its columns
        and SQL alone."""
        aliases: dict[int, str] = {}
        sources: dict[str, Query] = {}
        needed: dict[str, set[str]] = {}
        steps: list[Step] = []
        outputs: list[Output] = []
        out_names: list[str] = []

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

        def add(output: Output) -> None:
            if output.name in out_names:
                raise InvalidArgumentError(
                    f"Two joined feature groups both provide a feature named '{output.name}'; pass prefix='...' to "
                    "the join (or select fewer features).",
                    details={"feature": output.name},
                )
            out_names.append(output.name)
            outputs.append(output)

        def walk(q: Query, prefix: str, skip: set[str], aged: bool) -> None:
            a = alias_for(q)
            for f in q.features:
                if f.name not in skip:
                    add(Output(prefix + f.name, a, f.name, aged))
            for j in q._joins:
                b = alias_for(j.query)
                needed[b].update(j.right_on)
                rfg, lfg = j.query._fg, q._fg
                point_in_time = bool(lfg.event_time and rfg.event_time)
                steps.append(
                    Step(
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
                right_skip = set(j.right_on)
                right_et = rfg.event_time
                # a right event time the user named in select([...]) is returned (prefixed when the
                # join has a prefix; a clash without one asks for a prefix); one that select_all()
                # or select_except() implies is left out where the left's has its name
                named = j.query._named and right_et in (j.query._features or [])
                if (
                    point_in_time
                    and right_et is not None
                    and not named
                    and (right_et == lfg.event_time or (prefix + (j.prefix or "") + right_et) in out_names)
                ):
                    right_skip.add(right_et)
                walk(j.query, prefix + (j.prefix or ""), right_skip, point_in_time and j.max_age is not None)

        walk(self, "", set(), False)
        by_group: dict[int, str] = {}
        for a, q in sources.items():
            by_group.setdefault(id(q._fg), a)
        condition = None
        if self._filter is not None:
            condition = _to_plan(self._filter, by_group)
            for term in terms_of(condition):
                needed[term.alias].add(term.column)
        return QueryPlan(
            sources={
                a: Source(a, q._fg._ref(with_location=with_tables), tuple(sorted(needed[a])))
                for a, q in sources.items()
            },
            steps=steps,
            outputs=outputs,
            filter=condition,
            as_of=self._as_of,
        )

    def to_string(self) -> str:
        """The SQL this query runs on the python engine (duckdb; tables are named ``fg0``, ``fg1``,
        ... in join order).

        Returns:
            str: the SQL; point-in-time joins show as ``ASOF LEFT JOIN``.

        Example:
            >>> print(q.to_string())  # doctest: +SKIP
            SELECT fg0."flight_id" AS "flight_id", ..., fg1."temp" AS "temp"
            FROM fg0
            ASOF LEFT JOIN fg1 ON fg0."origin" = fg1."origin" AND fg0."time_hour" >= fg1."time_hour"
        """
        from larder.engine.python.sql import plan_sql

        return plan_sql(self._plan(with_tables=False))

    # --- running -----------------------------------------------------------------------------------

    def _run(self, where: list[Term] | None = None, order_by: list[str] | None = None) -> Any:
        """Run the query on the connection's engine into its frame (``pyarrow.Table`` on the python
        engine). ``where`` keeps the left group's rows matching every term (alias ``fg0``) before
        the joins; ``order_by`` sorts by those output columns."""
        engine = self._fg._fs._engine("read")
        return engine.query(self._plan(with_tables=True), where, order_by)

    def read(self, dataframe_type: str = "default") -> Any:
        """Run the query and return the rows (in no particular order).

        Args:
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``
                or ``"python"`` (a list of rows).

        Returns:
            Any: the rows in the requested type.

        Example:
            >>> df = flights.select_all().join(weather.select(["temp"]), on=["origin"]).read()  # doctest: +SKIP
        """
        engine = self._fg._fs._engine("read")
        engine.check_dataframe_type(dataframe_type)
        return engine.to_dataframe(self._run(), dataframe_type)

    def show(self, n: int = 10) -> Any:
        """The first rows as a pandas DataFrame.

        Args:
            n (int): how many rows (default 10).

        Returns:
            pandas.DataFrame: at most ``n`` rows.

        Example:
            >>> q.show(5)  # doctest: +SKIP
        """
        engine = self._fg._fs._engine("read")
        return engine.to_dataframe(engine.head(self._run(), n), "pandas")

    # --- serialization (feature views store their query) ------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description of the query, as feature views store it.

        Returns:
            dict: ``{"left": {"id", "project", "name", "version", "features"}, "joins": [...],
            "filter": ...}``; ``project`` is the project whose feature store holds the group;
            ``left`` also has ``"named": True`` when its features were named in ``select([...])``
            (a joined group's event time among them is returned).

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
                **({"named": True} if self._named else {}),
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
        q = cls(fg, list(left["features"]), named=bool(left.get("named")))
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


def _to_plan(c: _Condition, by_group: dict[int, str]) -> Condition:
    """A filter as the plan's condition, its features named by their groups' aliases."""
    if isinstance(c, Filter):
        fg = c.feature.feature_group
        assert fg is not None
        return Term(by_group[id(fg)], c.feature.name, c.op, c.value)
    assert isinstance(c, Logic)
    return Bool(
        c.op, _to_plan(c.left, by_group), _to_plan(c.right, by_group) if c.right is not None else None
    )


def dumps(query: Query) -> str:
    return json.dumps(query.to_dict())
