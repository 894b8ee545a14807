"""Transformation functions on the python engine: statistics fitted on a training split, and the
functions applied to an Arrow table (built-ins vectorized with numpy/pandas, custom udfs called
with pandas Series).

The formulas are those of ``larder.transform_plan.builtin_value``, which feature vectors use value
by value; tests compare both paths on the same keys.
"""

from __future__ import annotations

import math
from typing import Any

from larder.errors import InvalidArgumentError
from larder.transform_plan import MAX_UNIQUE_VALUES, NUMERIC_STATISTICS, SCALERS, TransformPlan, TransformStep


def _finite(x: Any) -> Any:
    """A float statistic for JSON: None instead of NaN or infinity."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _is_numeric(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _json_value(v: Any) -> Any:
    """A distinct value as JSON holds it (the statistics are used as stored, in this process too):
    text, numbers and booleans as they are; dates and times in ISO 8601, anything else as text."""
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    isoformat = getattr(v, "isoformat", None)
    return isoformat() if isoformat is not None else str(v)


def _unique(column: Any) -> list[Any]:
    import pyarrow.compute as pc

    values = [
        _json_value(v)
        for v in pc.unique(column.drop_null()).to_pylist()
        if not (isinstance(v, float) and math.isnan(v))
    ]
    try:
        return sorted(values)
    except TypeError:  # mixed types: by their text
        return sorted(values, key=str)


def fit(table: Any, needed: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The statistics ``needed`` (column -> statistic names, ``"all"`` for every one that fits the
    column's type) of ``table``'s columns: JSON values (floats finite or None).

    Raises:
        InvalidArgumentError: a numeric statistic of a column that is not numeric.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, dict[str, Any]] = {}
    for column, kinds in needed.items():
        col = table.column(column)
        numeric = _is_numeric(col.type) or pa.types.is_boolean(col.type)  # bools scale as 0/1
        wanted = set(kinds)
        if "all" in wanted:
            wanted = set(NUMERIC_STATISTICS) | {"unique_values"} if numeric else {"count", "unique_values"}
        stats: dict[str, Any] = {"count": int(len(col) - col.null_count)}
        numbers = [k for k in wanted if k in NUMERIC_STATISTICS and k != "count"]
        if numbers:
            if not numeric:
                raise InvalidArgumentError(
                    f"Column {column!r} is {col.type}, not a number: a scaler needs numbers; encode it with "
                    "label_encoder or one_hot_encoder instead.",
                    details={"column": column, "type": str(col.type)},
                )
            values = np.asarray(
                pc.cast(col.drop_null(), "float64").to_numpy(zero_copy_only=False), dtype=float
            )
            values = values[~np.isnan(values)]
            empty = values.size == 0
            if "min" in wanted:
                stats["min"] = None if empty else _finite(values.min())
            if "max" in wanted:
                stats["max"] = None if empty else _finite(values.max())
            if "mean" in wanted:
                stats["mean"] = None if empty else _finite(values.mean())
            if "stddev" in wanted:
                stats["stddev"] = None if empty else _finite(values.std(ddof=0))
            if "percentiles" in wanted:
                stats["percentiles"] = (
                    None if empty else [_finite(p) for p in np.percentile(values, np.arange(1, 101))]
                )
        if "unique_values" in wanted:
            unique = _unique(col)
            custom_numeric = "all" in kinds and numeric
            stats["unique_values"] = None if custom_numeric and len(unique) > MAX_UNIQUE_VALUES else unique
        out[column] = stats
    return out


def _builtin(step: TransformStep, series: Any) -> list[Any]:
    """A built-in over a pandas Series: its outputs (arrays) in output order."""
    import pandas as pd

    a, b = step.parameters
    if step.builtin in SCALERS:
        if a is None or b is None:
            return [pd.Series([None] * len(series), dtype="float64")]
        return [(pd.to_numeric(series, errors="raise").astype("float64") - a) / b]
    codes = series.map(a)  # position among the training values; NaN when unseen or null
    missing = series.isna().to_numpy()
    positions = codes.fillna(-1).to_numpy(dtype="int64")
    if step.builtin == "label_encoder":
        encoded = pd.array(positions, dtype="Int64")
        encoded[missing] = pd.NA
        return [encoded]
    return [positions == i for i in range(b)]


def _to_columns(step: TransformStep, result: Any, rows: int) -> list[Any]:
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        parts = [result.iloc[:, i] for i in range(result.shape[1])]
    elif isinstance(result, (list, tuple)):
        parts = list(result)
    else:
        parts = [result]
    if len(parts) != len(step.outputs):
        raise InvalidArgumentError(
            f"Transformation function {step.label} returned {len(parts)} column(s); its return_type declares "
            f"{len(step.outputs)}. Return a Series for one output, a DataFrame with one column per output for "
            "several.",
            details={"function": step.label},
        )
    out = []
    for p in parts:
        values = p.to_numpy() if isinstance(p, pd.Series) else p
        if not hasattr(values, "__len__") or len(values) != rows:
            raise InvalidArgumentError(
                f"Transformation function {step.label} returned {type(p).__name__} for {rows} rows; it must "
                "return one value per row (a Series).",
                details={"function": step.label},
            )
        out.append(values)
    return out


_ARROW_TYPES = {"float": "float64", "int": "int64", "bool": "bool", "str": "string"}


def apply(table: Any, plan: TransformPlan) -> Any:
    """``table`` transformed by ``plan``: the columns the functions drop removed, their outputs
    added after the other columns, sorted by name.

    Raises:
        InvalidArgumentError: a function fails or returns the wrong number of columns or rows.
    """
    import pandas as pd
    import pyarrow as pa

    made: dict[str, Any] = {}
    rows = table.num_rows
    for step in plan.steps:
        inputs = [table.column(c).to_pandas() for c in step.inputs]
        if step.builtin is not None:
            values = _builtin(step, inputs[0])
        else:
            assert step.call is not None
            values = _to_columns(step, step.call(inputs), rows)
        for name, v, t in zip(step.outputs, values, step.types, strict=True):
            arrow_type = _ARROW_TYPES.get(t)
            try:
                made[name] = pa.array(
                    v, type=pa.type_for_alias(arrow_type) if arrow_type else None, from_pandas=True
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                made[name] = pa.array(pd.Series(v), from_pandas=True)  # as the function's values are
    out = table.select(plan.kept)
    for name in plan.order:
        out = out.append_column(name, made[name])
    return out
