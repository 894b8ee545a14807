"""A query plan as duckdb SQL: identifiers quoted, every value a literal, never pasted text.

What a query returns is this SQL's result (``Query.to_string()`` shows it): duckdb ``ASOF LEFT
JOIN``s for point-in-time joins, a latest-row-per-key subquery for joins on a right side with an
event time, plain joins otherwise. The python engine runs joins that give each left row at most one
right row as its own matches (``query._matched``), with the same rows and types.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from larder.errors import InvalidArgumentError
from larder.plan import Bool, Condition, QueryPlan, Term


def quote_ident(name: str) -> str:
    """A SQL identifier in double quotes (names are validated, so this is belt and braces).

    Example:
        >>> quote_ident('temp')
        '"temp"'
    """
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A value as a duckdb SQL literal. Strings are quoted with quotes doubled; timestamps must be
    timezone-aware (UTC).

    Raises:
        InvalidArgumentError: for a naive datetime or a value of another type.

    Example:
        >>> sql_literal("O'Hare")
        "'O''Hare'"
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgumentError(
                f"Use a timezone-aware datetime (UTC) in filters, got the naive {value.isoformat()}.",
                details={"value": value.isoformat()},
            )
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if hasattr(value, "item"):  # numpy scalar
        return sql_literal(value.item())
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise InvalidArgumentError(f"Cannot use a {type(value).__name__} value in a filter: {value!r}.")


def render(cond: Condition, rename: dict[str, str] | None = None) -> str:
    """A condition as SQL; ``rename`` maps a plan alias to the name the SQL gives it ("" for an
    unqualified column)."""
    rename = rename or {}
    if isinstance(cond, Term):
        alias = rename.get(cond.alias, cond.alias)
        col = (f"{alias}." if alias else "") + quote_ident(cond.column)
        if cond.op in ("IS NULL", "IS NOT NULL"):
            return f"{col} {cond.op}"
        if cond.op == "IN":
            return f"{col} IN ({', '.join(sql_literal(v) for v in cond.value)})"
        if cond.value is None and cond.op in ("=", "<>"):
            return f"{col} {'IS' if cond.op == '=' else 'IS NOT'} NULL"
        return f"{col} {cond.op} {sql_literal(cond.value)}"
    assert isinstance(cond, Bool)
    if cond.op == "NOT":
        return f"(NOT {render(cond.left, rename)})"
    assert cond.right is not None
    return f"({render(cond.left, rename)} {cond.op} {render(cond.right, rename)})"


def plan_sql(plan: QueryPlan) -> str:
    """The plan's SQL over tables named by its aliases (``fg0``, ``fg1``, ...)."""
    select = []
    for o in plan.outputs:
        col = f"{o.alias}.{quote_ident(o.column)}"
        step = plan.step_into(o.alias) if o.aged else None
        if step is not None and step.max_age is not None and step.left_time and step.right_time:
            left_et = f"{step.left}.{quote_ident(step.left_time)}"
            right_et = f"{step.right}.{quote_ident(step.right_time)}"
            micros = int(step.max_age.total_seconds() * 1_000_000)
            col = f"CASE WHEN {right_et} >= {left_et} - to_microseconds({micros}) THEN {col} END"
        select.append(f"{col} AS {quote_ident(o.name)}")
    sql = f"SELECT {', '.join(select)}\nFROM fg0"  # noqa: S608 - identifiers are quoted, values are literals
    for s in plan.steps:
        a, b = s.left, s.right
        conds = [
            f"{a}.{quote_ident(lk)} = {b}.{quote_ident(rk)}"
            for lk, rk in zip(s.left_on, s.right_on, strict=True)
        ]
        source = b
        if s.point_in_time:
            assert s.left_time and s.right_time
            conds.append(f"{a}.{quote_ident(s.left_time)} >= {b}.{quote_ident(s.right_time)}")
            kind = "ASOF JOIN" if s.inner else "ASOF LEFT JOIN"
        else:
            kind = "JOIN" if s.inner else "LEFT JOIN"
            if s.latest_only:  # the latest row per key of the right side
                assert s.right_time
                keys = ", ".join(quote_ident(k) for k in plan.sources[b].table.primary_key)
                source = (
                    f"(SELECT * FROM {b} QUALIFY row_number() OVER (PARTITION BY {keys} "  # noqa: S608
                    f"ORDER BY {quote_ident(s.right_time)} DESC) = 1) AS {b}"
                )
        sql += f"\n{kind} {source} ON {' AND '.join(conds)}"
    if plan.filter is not None:
        sql += "\nWHERE " + render(plan.filter)
    return sql
