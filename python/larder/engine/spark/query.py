"""The spark engine's queries: a plan's point-in-time joins, filters and time travel as Spark
DataFrame operations, with the python engine's semantics (its SQL, ``Query.to_string()``, defines
them):

- each left row gets the right row with the same keys and the latest event time at or before its
  own (a tie matches); every left row comes back once, with null features where there is no such
  row (``inner`` drops it); ``max_age`` leaves older matches' features null; a left row with a null
  key or time never matches; several right rows with the same key and time: one of them;
- joins without a left event time take the right's latest row per primary key (or join on it).

A point-in-time join runs as the union of both sides, partitioned by the join key and sorted by
event time (right rows before left rows at the same time), each left row taking the last right row
before it (``last(..., ignorenulls)`` over the window): one shuffle of both sides and no row
explosion, where ``ROW_NUMBER()`` over a left join compares every label with every earlier feature
row of its key (see ``benchmarks/spark_engine.py`` for the figures).

The rows are carried in one wide frame whose columns are named ``{alias}__{column}``.
"""

from __future__ import annotations

from typing import Any

from larder.engine.spark import delta
from larder.engine.spark._frames import quote
from larder.errors import InvalidArgumentError
from larder.plan import Bool, Condition, QueryPlan, Step, Term, aliases_of, split_and


def wide(alias: str, column: str) -> str:
    """A column's name in the wide frame.

    Example:
        >>> wide("fg1", "temp")
        'fg1__temp'
    """
    return f"{alias}__{column}"


def _col(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col(quote(name))


def condition(cond: Condition, name: Any = wide) -> Any:
    """A plan's condition as a Spark ``Column``; ``name(alias, column)`` names the columns it tests."""
    from pyspark.sql import functions as F

    if isinstance(cond, Term):
        c = _col(name(cond.alias, cond.column))
        op, v = cond.op, cond.value
        if op == "IS NULL" or (op == "=" and v is None):
            return c.isNull()
        if op == "IS NOT NULL" or (op == "<>" and v is None):
            return c.isNotNull()
        if op == "IN":
            return c.isin(*v)
        if op == "LIKE":
            return c.like(v)
        ops = {
            "=": c.__eq__,
            "<>": c.__ne__,
            "<": c.__lt__,
            "<=": c.__le__,
            ">": c.__gt__,
            ">=": c.__ge__,
        }
        if op not in ops:
            raise InvalidArgumentError(f"Unknown filter operator {op!r}.")
        return ops[op](F.lit(v))
    assert isinstance(cond, Bool)
    if cond.op == "NOT":
        return ~condition(cond.left, name)
    assert cond.right is not None
    left, right = condition(cond.left, name), condition(cond.right, name)
    return (left & right) if cond.op == "AND" else (left | right)


def run(
    spark: Any, plan: QueryPlan, where: list[Term] | None = None, order_by: list[str] | None = None
) -> Any:
    """Run a plan into a Spark DataFrame (lazy: Spark runs it when its rows are asked for).

    ``where`` (terms on alias ``fg0``) and the filter's terms on ``fg0`` alone keep the left rows
    before the joins; the filter's other terms test the joined rows (the values as joined, before
    ``max_age``); ``order_by`` sorts by those output columns (nulls last, as the python engine)."""
    from pyspark.sql import functions as F

    frames = {
        a: delta.read(spark, s.table, plan.as_of).select(*[quote(c) for c in s.columns])
        for a, s in plan.sources.items()
    }
    left_terms = (
        [t for t in split_and(plan.filter) if aliases_of(t) == {"fg0"}] if plan.filter is not None else []
    )
    joined_terms = (
        [t for t in split_and(plan.filter) if aliases_of(t) != {"fg0"}] if plan.filter is not None else []
    )
    left = frames["fg0"]
    for term in [*(where or []), *left_terms]:
        left = left.where(condition(term, lambda _a, c: c))
    rows = _renamed(left, "fg0")
    for s in plan.steps:
        rows = join_step(rows, _renamed(frames[s.right], s.right), s, plan)
    for term in joined_terms:
        rows = rows.where(F.coalesce(condition(term), F.lit(False)))
    outputs = []
    for o in plan.outputs:
        column = _col(wide(o.alias, o.column))
        step = plan.step_into(o.alias) if o.aged else None
        if step is not None and step.max_age is not None and step.left_time and step.right_time:
            micros = int(step.max_age.total_seconds() * 1_000_000)
            age = F.unix_micros(_col(wide(step.left, step.left_time)).cast("timestamp")) - F.unix_micros(
                _col(wide(step.right, step.right_time)).cast("timestamp")
            )
            column = F.when(age <= micros, column)
        outputs.append(column.alias(o.name))
    result = rows.select(outputs)
    order = [c for c in order_by or [] if c in plan.columns]
    if order:
        result = result.orderBy(*[_col(c).asc_nulls_last() for c in order])
    return result


def _renamed(frame: Any, alias: str) -> Any:
    return frame.select([_col(c).alias(wide(alias, c)) for c in frame.columns])


def join_step(rows: Any, right: Any, s: Step, plan: QueryPlan) -> Any:
    """One join of the plan onto the wide frame ``rows``; ``right`` has the right's wide columns."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    left_on = [wide(s.left, k) for k in s.left_on]
    right_on = [wide(s.right, k) for k in s.right_on]
    types = {f.name: f.dataType for f in rows.schema.fields}
    if s.point_in_time:
        return _point_in_time(rows, right, s, left_on, right_on, types)
    if s.latest_only:  # the latest row per primary key of the right side
        assert s.right_time
        keys = [_col(wide(s.right, k)) for k in plan.sources[s.right].table.primary_key]
        latest = Window.partitionBy(*keys).orderBy(_col(wide(s.right, s.right_time)).desc())
        right = right.withColumn("__rn", F.row_number().over(latest)).where("__rn = 1").drop("__rn")
    on = None
    for lk, rk in zip(left_on, right_on, strict=True):
        eq = rows[quote(lk)] == right[quote(rk)].cast(types[lk])
        on = eq if on is None else on & eq
    return rows.join(right, on, "inner" if s.inner else "left")


def _point_in_time(
    rows: Any, right: Any, s: Step, left_on: list[str], right_on: list[str], types: dict[str, Any]
) -> Any:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    assert s.left_time and s.right_time
    keys = [f"__k{i}" for i in range(len(left_on))]
    left_time, right_time = wide(s.left, s.left_time), wide(s.right, s.right_time)
    left_struct = F.struct(*[_col(c) for c in rows.columns])
    right_struct = F.struct(*[_col(c) for c in right.columns])
    left_type = rows.select(left_struct.alias("x")).schema["x"].dataType
    right_type = right.select(right_struct.alias("x")).schema["x"].dataType
    lefts = rows.select(
        *[_col(c).alias(k) for c, k in zip(left_on, keys, strict=True)],
        _col(left_time).cast("timestamp").alias("__t"),
        F.lit(1).alias("__side"),
        left_struct.alias("__l"),
        F.lit(None).cast(right_type).alias("__r"),
    )
    usable = F.lit(True)
    for c in [*right_on, right_time]:
        usable = usable & _col(c).isNotNull()
    rights = right.where(usable).select(
        *[_col(c).cast(types[lc]).alias(k) for c, lc, k in zip(right_on, left_on, keys, strict=True)],
        _col(right_time).cast("timestamp").alias("__t"),
        F.lit(0).alias("__side"),
        F.lit(None).cast(left_type).alias("__l"),
        right_struct.alias("__r"),
    )
    # right rows sort before left rows at the same time: a tie matches (">=" in the ASOF condition)
    window = (
        Window.partitionBy(*keys)
        .orderBy("__t", "__side")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    matched = lefts.unionByName(rights).withColumn("__m", F.last("__r", ignorenulls=True).over(window))
    matched = matched.where("__side = 1")
    valid = F.col("__t").isNotNull()
    for k in keys:
        valid = valid & F.col(k).isNotNull()
    matched = matched.withColumn("__m", F.when(valid, F.col("__m")))
    if s.inner:
        matched = matched.where(F.col("__m").isNotNull())
    return matched.select(
        *[F.col("__l").getField(c).alias(c) for c in rows.columns],
        *[F.col("__m").getField(c).alias(c) for c in right.columns],
    )
