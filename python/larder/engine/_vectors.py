"""Feature vectors transformed by a ``larder.transform_plan.TransformPlan``, the same on every
engine: built-ins value by value in plain Python (no frame per vector: the online path's latency),
custom udfs over one pandas Series per input holding every vector of the request."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from larder.errors import InvalidArgumentError
from larder.transform_plan import TransformPlan, builtin_value


def _plain(x: Any) -> Any:
    """A value as JSON would give it: Python scalars, None for NaN or pandas' NA."""
    if x is None:
        return None
    item = getattr(x, "item", None)
    if item is not None and not isinstance(x, (str, bytes)):
        with contextlib.suppress(ValueError, TypeError):
            x = item()
    if isinstance(x, float) and math.isnan(x):
        return None
    if type(x).__name__ in ("NAType", "NaTType"):
        return None
    return x


def transform(plan: TransformPlan, names: list[str], vectors: list[list[Any]]) -> list[list[Any]]:
    """``vectors`` (values in ``names`` order) as the plan's columns.

    Raises:
        InvalidArgumentError: a custom udf fails or returns one value too few or many.
    """
    index = {n: i for i, n in enumerate(names)}
    kept = [index[c] for c in plan.kept]
    position = {n: i for i, n in enumerate(plan.order)}
    width = len(plan.order)
    outputs = [[None] * width for _ in vectors]
    for step in plan.steps:
        slots = [position[o] for o in step.outputs]
        inputs = [index[c] for c in step.inputs]
        if step.builtin is not None:
            name, parameters, i0 = step.builtin, step.parameters, inputs[0]
            for out, v in zip(outputs, vectors, strict=True):
                for slot, value in zip(slots, builtin_value(name, v[i0], parameters), strict=True):
                    out[slot] = value
            continue
        import pandas as pd

        assert step.call is not None
        result = step.call([pd.Series([v[i] for v in vectors]) for i in inputs])
        if isinstance(result, pd.DataFrame):
            columns = [result.iloc[:, j].tolist() for j in range(result.shape[1])]
        elif isinstance(result, (list, tuple)):
            columns = [list(c) for c in result]
        else:
            columns = [list(result)]
        if len(columns) != len(slots) or any(len(c) != len(vectors) for c in columns):
            raise InvalidArgumentError(
                f"Transformation function {step.label} returned {len(columns)} column(s) for {len(vectors)} "
                f"vector(s); its return_type declares {len(slots)} output(s), one value per row each.",
                details={"function": step.label},
            )
        for slot, column in zip(slots, columns, strict=True):
            for out, value in zip(outputs, column, strict=True):
                out[slot] = _plain(value)
    return [[v[i] for i in kept] + out for v, out in zip(vectors, outputs, strict=True)]
