"""Descriptive statistics of a commit's rows, computed with duckdb over the Arrow data.

Per column: count, nulls, approx distinct; numerics also min, max, mean, stddev and a 10-bin
equal-width histogram; strings and timestamps min and max.
"""

from __future__ import annotations

from typing import Any

from larder.feature_store.feature import quote_ident

HISTOGRAM_BINS = 10


def _is_numeric(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def compute(table: Any) -> dict[str, Any]:
    """Statistics of an Arrow table: ``{"row_count": n, "columns": {name: {...}}}``."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    try:
        con.register("t", table)
        parts = ["count(*) AS n"]
        for i, f in enumerate(table.schema):
            c = quote_ident(f.name)
            parts.append(f"count({c}) AS c{i}")
            parts.append(f"approx_count_distinct({c}) AS d{i}")
            if _is_numeric(f.type) or pa.types.is_string(f.type):
                parts.append(f"min({c}) AS lo{i}")
                parts.append(f"max({c}) AS hi{i}")
            elif pa.types.is_timestamp(f.type):  # as ISO text: no time-zone objects through Python
                parts.append(f"strftime(min({c}), '%Y-%m-%dT%H:%M:%S.%fZ') AS lo{i}")
                parts.append(f"strftime(max({c}), '%Y-%m-%dT%H:%M:%S.%fZ') AS hi{i}")
            if _is_numeric(f.type):
                parts.append(f"avg({c}::DOUBLE) AS mean{i}")
                parts.append(f"stddev_samp({c}::DOUBLE) AS sd{i}")
        row = con.execute(f"SELECT {', '.join(parts)} FROM t").fetchall()[0]  # noqa: S608 - quoted identifiers
        names = [d[0] for d in con.description] if con.description else []
        values = dict(zip(names, row, strict=True))
        n = int(values["n"])
        columns: dict[str, Any] = {}
        for i, f in enumerate(table.schema):
            count = int(values[f"c{i}"])
            stats: dict[str, Any] = {
                "type": str(f.type),
                "count": count,
                "nulls": n - count,
                "approx_distinct": int(values[f"d{i}"]),
            }
            if f"lo{i}" in values:
                stats["min"] = _plain(values[f"lo{i}"])
                stats["max"] = _plain(values[f"hi{i}"])
            if _is_numeric(f.type):
                stats["mean"] = _plain(values[f"mean{i}"])
                stats["stddev"] = _plain(values[f"sd{i}"])
            columns[f.name] = stats
        _histograms(con, table, columns)
        return {"row_count": n, "columns": columns}
    finally:
        con.close()


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, int | float | str | bool):
        return v
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return float(v)


def _histograms(con: Any, table: Any, columns: dict[str, Any]) -> None:
    """Equal-width histograms of every numeric column, in one pass (duckdb ``histogram``)."""
    parts, specs = [], []
    for f in table.schema:
        st = columns[f.name]
        if not _is_numeric(f.type):
            continue
        lo, hi = st.get("min"), st.get("max")
        if lo is None or hi is None:
            st["histogram"] = None
            continue
        lo, hi = float(lo), float(hi)
        c = quote_ident(f.name)
        if hi == lo:
            st["histogram"] = {"edges": [lo, hi], "counts": [st["count"]]}
            continue
        width = (hi - lo) / HISTOGRAM_BINS
        parts.append(
            f"histogram(least(floor(({c}::DOUBLE - {lo!r}) / {width!r}), {HISTOGRAM_BINS - 1})::INT)"
        )
        specs.append((f.name, lo, hi, width))
    if not parts:
        return
    row = con.execute(f"SELECT {', '.join(parts)} FROM t").fetchall()[0]  # noqa: S608 - quoted identifiers
    for (name, lo, hi, width), bins in zip(specs, row, strict=True):
        counts = [0] * HISTOGRAM_BINS
        for b, k in (bins or {}).items():
            if b is not None:
                counts[int(b)] = int(k)
        columns[name]["histogram"] = {
            "edges": [lo + i * width for i in range(HISTOGRAM_BINS)] + [hi],
            "counts": counts,
        }
