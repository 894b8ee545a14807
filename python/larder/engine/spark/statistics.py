"""Descriptive statistics of a commit's rows, computed by Spark: the same figures and shape as the
python engine's (``larder.engine.python.statistics``), so that the platform and the UI show
commits of either engine alike. Per column: count, nulls, approximate distinct values; numbers and
strings min and max (timestamps as ISO text); numbers mean, sample standard deviation and a 10-bin
equal-width histogram. One aggregate pass over the rows and one for the histograms (over all rows,
where the python engine samples 1M)."""

from __future__ import annotations

import logging
from typing import Any

from larder.engine.python.statistics import HISTOGRAM_BINS
from larder.engine.spark._frames import larder_type, quote

log = logging.getLogger("larder.engine.spark")

_NUMERIC = ("int8", "int16", "int32", "int64", "float", "double")


def _numeric(t: str) -> bool:
    return t in _NUMERIC or t.startswith("decimal128(")


def compute_or_none(frame: Any) -> dict[str, Any] | None:
    """:func:`compute`, or None (logged) when it fails: statistics never fail an insert."""
    try:
        return compute(frame)
    except Exception as e:
        log.warning("statistics failed: %s", e)
        return None


def compute(frame: Any) -> dict[str, Any]:
    """Statistics of a Spark DataFrame: ``{"row_count": n, "columns": {name: {...}}}``."""
    from pyspark.sql import functions as F

    fields = [(f.name, larder_type(f)) for f in frame.schema.fields]
    parts = [F.count(F.lit(1)).alias("n")]
    for i, (name, t) in enumerate(fields):
        c = F.col(quote(name))
        parts += [F.count(c).alias(f"c{i}"), F.approx_count_distinct(c).alias(f"d{i}")]
        if _numeric(t) or t == "string":
            parts += [F.min(c).alias(f"lo{i}"), F.max(c).alias(f"hi{i}")]
        elif t.startswith("timestamp"):
            fmt = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
            parts += [
                F.date_format(F.min(c), fmt).alias(f"lo{i}"),
                F.date_format(F.max(c), fmt).alias(f"hi{i}"),
            ]
        if _numeric(t):
            parts += [F.mean(c.cast("double")).alias(f"m{i}"), F.stddev_samp(c.cast("double")).alias(f"s{i}")]
    values = frame.agg(*parts).collect()[0].asDict()
    n = int(values["n"])
    columns: dict[str, Any] = {}
    for i, (name, t) in enumerate(fields):
        count = int(values[f"c{i}"])
        stats: dict[str, Any] = {
            "type": t,
            "count": count,
            "nulls": n - count,
            "approx_distinct": int(values[f"d{i}"]),
        }
        if f"lo{i}" in values:
            stats["min"], stats["max"] = _plain(values[f"lo{i}"]), _plain(values[f"hi{i}"])
        if _numeric(t):
            stats["mean"] = None if values[f"m{i}"] is None else float(values[f"m{i}"])
            stats["stddev"] = None if values[f"s{i}"] is None else float(values[f"s{i}"])
        columns[name] = stats
    _histograms(frame, columns)
    return {"row_count": n, "columns": columns}


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, int | float | str | bool):
        return v
    return float(v)  # Decimal


def _histograms(frame: Any, columns: dict[str, Any]) -> None:
    """Equal-width histograms of the numeric columns in one pass: bin ``i`` holds the values above
    its lower edge up to its upper edge, the first bin also the min (as the python engine's)."""
    from pyspark.sql import functions as F

    parts: list[Any] = []
    specs: list[tuple[str, list[float]]] = []
    for name, st in columns.items():
        if not _numeric(st["type"]):
            continue
        lo, hi = st.get("min"), st.get("max")
        if lo is None or hi is None:
            st["histogram"] = None
            continue
        lo, hi = float(lo), float(hi)
        if hi == lo:
            st["histogram"] = {"edges": [lo, hi], "counts": [st["count"]]}
            continue
        width = (hi - lo) / HISTOGRAM_BINS
        edges = [lo + i * width for i in range(HISTOGRAM_BINS)] + [hi]
        v = F.col(quote(name)).cast("double")
        # the bin whose (lower, upper] interval holds v, by the same edges as the python engine's
        index = F.lit(0)
        for e in edges[1:-1]:
            index = index + F.when(v > F.lit(e), 1).otherwise(0)
        for b in range(HISTOGRAM_BINS):
            parts.append(
                F.sum(F.when(v.isNotNull() & (index == b), 1).otherwise(0)).alias(f"{len(specs)}_{b}")
            )
        specs.append((name, edges))
    if not parts:
        return
    row = frame.agg(*parts).collect()[0].asDict()
    for j, (name, edges) in enumerate(specs):
        counts = [int(row[f"{j}_{b}"] or 0) for b in range(HISTOGRAM_BINS)]
        columns[name]["histogram"] = {"edges": edges, "counts": counts}
