"""Engine-neutral plans for transformation functions, as plain values (the companion of
:mod:`larder.plan` for ``transformation_functions``).

The feature store (``larder.feature_store.transformation_functions``) turns a view's functions
and the statistics fitted on a training split into a :class:`TransformPlan`: which columns stay,
which steps run on which inputs, and the output columns in their order. Engines run the plan over
their frames; feature vectors run it value by value (:func:`builtin_value`). Engines import this
module and never the feature store.

Example:
    >>> builtin_value("min_max_scaler", 15.0, builtin_parameters("min_max_scaler", {"min": 10.0, "max": 20.0}))
    [0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NUMERIC_STATISTICS = ("count", "min", "max", "mean", "stddev", "percentiles")
"""What is fitted for a numeric feature a custom udf asks statistics of (``unique_values`` too
when the training split holds at most :data:`MAX_UNIQUE_VALUES` distinct values)."""

MAX_UNIQUE_VALUES = 10_000
"""Custom udfs get ``unique_values`` of a numeric feature only up to this many distinct values;
the built-in encoders always get every value."""

SCALERS = ("min_max_scaler", "standard_scaler", "robust_scaler")
ENCODERS = ("label_encoder", "one_hot_encoder")


@dataclass
class TransformStep:
    """One function of a plan.

    Attributes:
        label (str): the function as users wrote it (``min_max_scaler('amount')``), for messages.
        inputs (list[str]): the input columns, in argument order.
        outputs (list[str]): its output columns.
        types (list[str]): one type name per output (``"float"``, ``"int"``, ``"bool"``, ...).
        builtin (str | None): a built-in's name; None for a custom udf.
        parameters (tuple): a built-in's :func:`builtin_parameters`.
        call (Callable | None): a custom udf: takes the input pandas Series, returns a Series, a
            DataFrame or a list of Series (one per output).
    """

    label: str
    inputs: list[str]
    outputs: list[str]
    types: list[str]
    builtin: str | None = None
    parameters: tuple[Any, Any] = (None, None)
    call: Callable[[list[Any]], Any] | None = None


@dataclass
class TransformPlan:
    """The transformation of a frame (as hsfs 4 lays it out): the ``kept`` columns (every column
    less those the functions drop, in order), then the outputs of the ``steps`` sorted by name
    (``order``)."""

    kept: list[str]
    steps: list[TransformStep] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The transformed frame's columns."""
        return [*self.kept, *self.order]


def builtin_parameters(name: str, stats: dict[str, Any]) -> tuple[Any, Any]:
    """``(offset, scale)`` of a scaler, or ``(index, n)`` of an encoder (value -> position among the
    sorted training values, and their number), from a column's fitted statistics. A zero scale (a
    constant training column) is 1, as scikit-learn's scalers have it; None when not fitted.

    Example:
        >>> builtin_parameters("standard_scaler", {"mean": 2.0, "stddev": 0.5})
        (2.0, 0.5)
    """
    if name == "min_max_scaler":
        lo, hi = stats.get("min"), stats.get("max")
        return lo, (None if lo is None or hi is None else (hi - lo) or 1.0)
    if name == "standard_scaler":
        mean = stats.get("mean")
        return mean, (None if mean is None else stats.get("stddev") or 1.0)
    if name == "robust_scaler":
        p = stats.get("percentiles")
        if not p:
            return None, None
        return p[49], (p[74] - p[24]) or 1.0
    values = list(stats.get("unique_values") or [])
    return {v: i for i, v in enumerate(values)}, len(values)


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def builtin_value(name: str, x: Any, parameters: tuple[Any, Any]) -> list[Any]:
    """A built-in applied to one value; its outputs as a list (null stays null; an encoder gives
    -1, or all False, for a value not seen in training).

    Example:
        >>> builtin_value("label_encoder", "b", builtin_parameters("label_encoder", {"unique_values": ["a", "b"]}))
        [1]
    """
    a, b = parameters
    if name in SCALERS:
        if _missing(x) or a is None or b is None:
            return [None]
        return [(float(x) - a) / b]
    if name == "label_encoder":
        return [None if _missing(x) else a.get(x, -1)]
    position = None if _missing(x) else a.get(x)
    return [position == i for i in range(b)]
