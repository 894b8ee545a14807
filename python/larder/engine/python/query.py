"""The python engine's queries: a plan's joins run as ``_pit`` matches, or its SQL in duckdb.

Two ways, same rows and types (the SQL is ``sql.plan_sql``, what ``Query.to_string()`` shows):

- joins that give each left row at most one right row (point in time, or on the right's primary
  key) run as ``_pit`` matches (:func:`_matched`): one sorted search per join over packed (key,
  event time) codes, the joins in parallel threads, then the right columns taken at the matched
  rows. On 1M labels x 2 groups of 2.5M rows it takes less than half the user CPU time of the ASOF
  joins;
- everything else runs the SQL in duckdb (which can also spill to disk when the tables would not
  fit in memory).

A filter is split at its top-level ANDs: the terms on the left group's columns alone keep its rows
before the joins (both ways), the others test the joined rows (duckdb evaluates them over the
matched values, or the SQL's WHERE does).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from larder import _memory
from larder.engine.python import _sources, delta
from larder.engine.python._sources import DeltaSource
from larder.engine.python.sql import plan_sql, quote_ident, render
from larder.plan import Output, QueryPlan, Step, Term, aliases_of, split_and, terms_of

# threads that read, match and take the joined tables' rows (see _matched)
_THREADS = max(2, min(4, os.cpu_count() or 2))


@dataclass
class _Plan:
    """A plan as this engine runs it: its SQL, the tables its aliases name (``DeltaSource``: only
    the columns the plan needs), and the filter split at its top-level ANDs: the terms that test
    only ``fg0``'s columns (SQL over alias ``q``, applied to ``fg0``'s rows before the joins), and
    the others (SQL over the aliases, applied to the joined rows) with the columns they test."""

    sql: str
    tables: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    left_filter: str | None = None
    joined_filter: str | None = None
    joined_filter_columns: dict[str, list[str]] = field(default_factory=dict)


def compile_plan(plan: QueryPlan, with_tables: bool = True) -> _Plan:
    """The plan as this engine runs it; ``with_tables`` opens each source's Delta table (as of the
    plan's time), else the tables stay empty (for the SQL alone)."""
    tables = (
        {
            a: DeltaSource(delta.open_table(s.table, as_of=plan.as_of), s.columns)
            for a, s in plan.sources.items()
        }
        if with_tables
        else {}
    )
    out = _Plan(plan_sql(plan), tables, plan.columns, list(plan.steps), list(plan.outputs))
    if plan.filter is not None:
        left = [t for t in split_and(plan.filter) if aliases_of(t) == {"fg0"}]
        joined = [t for t in split_and(plan.filter) if aliases_of(t) != {"fg0"}]
        if left:
            out.left_filter = " AND ".join(render(t, {"fg0": "q"}) for t in left)
        if joined:
            out.joined_filter = " AND ".join(render(t) for t in joined)
            for t in joined:
                for term in terms_of(t):
                    cols = out.joined_filter_columns.setdefault(term.alias, [])
                    if term.column not in cols:
                        cols.append(term.column)
    return out


def run(plan: QueryPlan, where: list[Term] | None = None, order_by: list[str] | None = None) -> Any:
    """Run a plan into a ``pyarrow.Table``.

    ``where`` keeps the left feature group's rows that match every term (of alias ``fg0``), before
    the joins; ``order_by`` sorts the result by those output columns (those the query has). Joins
    that give each left row at most one right row run as ``_pit`` matches (:func:`_matched`); other
    queries run the SQL in duckdb (with the order in duckdb's parallel sort: 3x faster than sorting
    the Arrow result). Either way the filter's terms on the left group alone keep its rows before
    the joins."""
    compiled = compile_plan(plan)
    order = [c for c in order_by or [] if c in compiled.columns]
    extra_where = " AND ".join(render(t, {"fg0": "q"}) for t in where) if where else None
    con = _sources.connect(*compiled.tables.values())
    try:
        _register(con, compiled, ["fg0"], _left_where(compiled, extra_where))
        table = _matched(con, compiled, order)  # registers the right tables its own way
        if table is not None:
            return table
        _register(con, compiled, [a for a in compiled.tables if a != "fg0"], None)
        sql = compiled.sql
        if order:
            by = ", ".join(f"q.{quote_ident(c)}" for c in order)
            sql = f"SELECT * FROM ({sql}) AS q ORDER BY {by}"  # noqa: S608 - identifiers are quoted
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


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

    from larder.engine.python import _pit

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

    def join(s: Step) -> tuple[Any, Any, Any, Any] | None:
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

        def output(o: Output) -> Any:
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
