"""Transformation functions (hsfs 4's model-dependent transformations): what they are, which
statistics of the training data each needs, how they are named, stored and rebuilt.

A transformation function is a Python function decorated with :func:`udf`: it takes one pandas
Series per feature and returns a Series (or a DataFrame for several outputs). Attached to a feature
view (``create_feature_view(..., transformation_functions=[min_max_scaler("amount")])``), it is
applied to what the view returns: training data, batch data and feature vectors. Functions that
need statistics (the built-ins, and udfs with a ``statistics=TransformationStatistics(...)``
argument) get them **fitted on the training split only** when training data is created, stored
with the training dataset version, and used unchanged for every later read of that version.

This module holds the semantics and no data library: the engines compute statistics and run the
functions over their frames (``larder.engine.python.transform``); feature vectors are transformed
by ``larder.engine._vectors``.

Limits (documented in ``docs/feature-store.md``): a custom udf is stored as its source text
(``inspect.getsource``) and rebuilt from it wherever the view is read, so its body may use only
``pd`` (pandas), ``np`` (numpy), ``math`` and what it imports itself; names from the defining
module (closures, globals) are not carried along. The ``transformation_context`` argument of hsfs
is not supported.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from larder.errors import InvalidArgumentError
from larder.names import FEATURE_NAME_PATTERN, check_name
from larder.transform_plan import TransformPlan, TransformStep, builtin_parameters

if TYPE_CHECKING:
    from larder.feature_store.feature_store import FeatureStore

BUILTINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "min_max_scaler": ("float", ("min", "max")),
    "standard_scaler": ("float", ("mean", "stddev")),
    "robust_scaler": ("float", ("percentiles",)),
    "label_encoder": ("int", ("unique_values",)),
    "one_hot_encoder": ("bool", ("unique_values",)),
}
"""The built-in functions: name -> (output type, the statistics they need)."""

_TYPE_NAMES = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    bytes: "bytes",
}


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return t
    if t in _TYPE_NAMES:
        return _TYPE_NAMES[t]
    name = getattr(t, "__name__", None)
    if name in ("datetime", "date", "time", "Timestamp"):
        return str(name).lower()
    raise InvalidArgumentError(
        f"udf return_type {t!r} is not supported; use int, float, str, bool, bytes, datetime, date or a list "
        "of them (one per output column).",
        details={"return_type": repr(t)},
    )


class FeatureTransformationStatistics:
    """The statistics of one feature, fitted on a training split (hsfs's names).

    Attributes:
        feature_name (str): the feature's column name.
        count (int | None): non-null values in the training split.
        min (float | None): smallest value.
        max (float | None): largest value.
        mean (float | None): mean.
        stddev (float | None): population standard deviation (``ddof=0``, as scikit-learn's
            ``StandardScaler``).
        percentiles (list[float] | None): 100 values: ``percentiles[i]`` is the ``(i + 1)``-th
            percentile (linear interpolation, as ``numpy.percentile``), so ``percentiles[49]`` is
            the median.
        unique_values (list | None): the distinct non-null values, sorted.

    Example:
        >>> s = FeatureTransformationStatistics("amount", {"min": 1.0, "max": 5.0})
        >>> s.max - s.min
        4.0
    """

    def __init__(self, feature_name: str, values: dict[str, Any] | None = None) -> None:
        values = values or {}
        self.feature_name = feature_name
        self.count: int | None = values.get("count")
        self.min: float | None = values.get("min")
        self.max: float | None = values.get("max")
        self.mean: float | None = values.get("mean")
        self.stddev: float | None = values.get("stddev")
        self.percentiles: list[float] | None = values.get("percentiles")
        self.unique_values: list[Any] | None = values.get("unique_values")

    def __repr__(self) -> str:
        return f"FeatureTransformationStatistics({self.feature_name!r})"


class TransformationStatistics:
    """Declares the statistics a custom udf needs: the default of its ``statistics`` argument names
    the udf's arguments whose training statistics it reads (as hsfs's ``TransformationStatistics``).
    When the udf runs, ``statistics.<argument>`` is a :class:`FeatureTransformationStatistics`.

    Args:
        *features (str): argument names of the udf.

    Raises:
        InvalidArgumentError: no names, or a name that is not a string.

    Example:
        >>> from larder.transformation_statistics import TransformationStatistics
        >>> stats = TransformationStatistics("amount")
        >>> stats.features
        ['amount']
    """

    def __init__(self, *features: str) -> None:
        if not features or not all(isinstance(f, str) and f for f in features):
            raise InvalidArgumentError(
                f"TransformationStatistics takes the udf's argument names as strings, got {features!r}: "
                'TransformationStatistics("amount").',
            )
        self.features = list(features)
        self._values: dict[str, FeatureTransformationStatistics] = {}

    def _bound(self, values: dict[str, dict[str, Any]]) -> TransformationStatistics:
        out = TransformationStatistics(*self.features)
        out._values = {f: FeatureTransformationStatistics(f, values.get(f)) for f in self.features}
        return out

    def __getattr__(self, name: str) -> FeatureTransformationStatistics:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(
            f"statistics.{name}: the udf's TransformationStatistics names {self.features}, not {name!r}; add it: "
            f"TransformationStatistics({', '.join(repr(f) for f in [*self.features, name])})."
        )

    def __repr__(self) -> str:
        return f"TransformationStatistics({', '.join(repr(f) for f in self.features)})"


class HopsworksUdf:
    """A transformation function: a Python function over pandas Series, made by :func:`udf`.

    Call it with feature names to bind it to those features of a view
    (``add_one("amount")``); unbound, it reads the features named like its arguments.

    Attributes:
        function_name (str): the function's name (the output columns' prefix).
        return_types (list[str]): one type name per output column (``"float"``, ``"int"``, ...).
        arguments (list[str]): the function's feature arguments (without ``statistics``).
        transformation_features (list[str]): the features it is bound to (default: ``arguments``).
        dropped_features (list[str]): the bound features removed from the output (``drop=``).
        statistics_features (list[str]): the bound features whose training statistics it needs.
        builtin (bool): True for Larder's built-ins (``larder.builtin_transformations``).

    Example:
        >>> from larder.hopsworks_udf import udf
        >>> @udf(float)
        ... def add_one(feature):
        ...     return feature + 1
        >>> add_one("amount").output_column_names
        ['add_one_amount']
    """

    def __init__(
        self,
        func: Callable[..., Any] | None,
        return_types: list[str],
        drop: list[str] | None = None,
        mode: str = "default",
        *,
        name: str | None = None,
        source: str | None = None,
        arguments: list[str] | None = None,
        statistics_argument: str | None = None,
        statistics_arguments: list[str] | None = None,
        builtin: bool = False,
    ) -> None:
        self.func = func
        self.return_types = list(return_types)
        self.mode = mode
        self.builtin = builtin
        self.function_name: str = str(name or getattr(func, "__name__", "udf"))
        self._source = source
        if arguments is None:
            assert func is not None
            arguments, statistics_argument, statistics_arguments = _signature(func, self.function_name)
        self.arguments = list(arguments)
        self._statistics_argument = statistics_argument
        self._statistics_arguments = list(statistics_arguments or [])
        unknown = [d for d in drop or [] if d not in self.arguments]
        if unknown:
            raise InvalidArgumentError(
                f"udf {self.function_name!r}: drop={unknown} names no argument of the function (it has "
                f"{self.arguments}).",
                details={"function": self.function_name, "drop": unknown},
            )
        self._drop = list(drop or [])
        self.transformation_features = list(self.arguments)
        self._output_names: list[str] | None = None

    # --- binding and names ------------------------------------------------------------------------

    def __call__(self, *features: str) -> HopsworksUdf:
        if len(features) != len(self.arguments) or not all(isinstance(f, str) for f in features):
            raise InvalidArgumentError(
                f"{self.function_name}() takes {len(self.arguments)} feature name(s) ({self.arguments}), got "
                f"{list(features)!r}: e.g. {self.function_name}({', '.join(repr(a) for a in self.arguments)}).",
                details={"function": self.function_name, "features": [str(f) for f in features]},
            )
        out = copy.copy(self)
        out.transformation_features = list(features)
        return out

    def alias(self, *names: str) -> HopsworksUdf:
        """Name the output columns yourself (one name per output).

        Args:
            *names (str): the output column names.

        Returns:
            HopsworksUdf: a copy with those names.

        Raises:
            InvalidArgumentError: not one name per output (for ``one_hot_encoder``, whose outputs
                depend on the training data, aliases are refused).

        Example:
            >>> from larder.builtin_transformations import min_max_scaler
            >>> min_max_scaler("amount").alias("amount_scaled").output_column_names
            ['amount_scaled']
        """
        if self.function_name == "one_hot_encoder" and self.builtin:
            raise InvalidArgumentError(
                "one_hot_encoder's output columns depend on the categories of the training data; they "
                "cannot be aliased.",
            )
        bad = [n for n in names if not isinstance(n, str) or not re.match(FEATURE_NAME_PATTERN, n)]
        if bad:
            raise InvalidArgumentError(
                f"{self.function_name}.alias(): {bad} are not feature names (letters, digits and '_', starting "
                "with a letter or '_', at most 63).",
                details={"function": self.function_name},
            )
        if len(names) != len(self.return_types):
            raise InvalidArgumentError(
                f"{self.function_name}.alias() takes one name per output ({len(self.return_types)}), got "
                f"{list(names)!r}.",
                details={"function": self.function_name},
            )
        out = copy.copy(self)
        out._output_names = list(names)
        return out

    @property
    def dropped_features(self) -> list[str]:
        """The bound features this function removes from the view's output."""
        by_arg = dict(zip(self.arguments, self.transformation_features, strict=True))
        return [by_arg[d] for d in self._drop]

    @property
    def statistics_features(self) -> list[str]:
        """The bound features whose training statistics this function needs."""
        if self.builtin:
            return list(self.transformation_features)
        by_arg = dict(zip(self.arguments, self.transformation_features, strict=True))
        return [by_arg[a] for a in self._statistics_arguments]

    @property
    def needs_statistics(self) -> bool:
        """True when the function reads statistics fitted on training data."""
        return bool(self.statistics_features)

    def _statistics_needed(self) -> dict[str, tuple[str, ...]]:
        """Which statistics of which column this function needs: column -> statistic names
        (``("all",)`` for a custom udf: every statistic that fits the column's type)."""
        if self.builtin:
            kinds = BUILTINS[self.function_name][1]
            return {c: kinds for c in self.transformation_features}
        return {c: ("all",) for c in self.statistics_features}

    def _output_names_for(self, statistics: dict[str, dict[str, Any]] | None) -> list[str]:
        """The output columns given fitted statistics (only ``one_hot_encoder`` depends on them:
        one column per category of the training split)."""
        if self._output_names is not None:
            return list(self._output_names)
        base = f"{self.function_name}_{'_'.join(self.transformation_features)}"
        n = len(self.return_types)
        if self.builtin and self.function_name == "one_hot_encoder":
            values = ((statistics or {}).get(self.transformation_features[0]) or {}).get("unique_values")
            n = len(values or [])
            return [f"{base}_{i}" for i in range(n)]
        return [base] if n == 1 else [f"{base}_{i}" for i in range(n)]

    @property
    def output_column_names(self) -> list[str]:
        """The output columns: ``<function>_<features>`` for one output, ``..._<i>`` for several,
        or the names given to :meth:`alias`. (``one_hot_encoder``'s depend on the training data:
        ``one_hot_encoder_<feature>_<i>``, one per category; empty before it is fitted.)"""
        return self._output_names_for(None)

    def __repr__(self) -> str:
        return f"{self.function_name}({', '.join(repr(f) for f in self.transformation_features)})"

    # --- running ----------------------------------------------------------------------------------

    def _statistics_object(self, fitted: dict[str, dict[str, Any]]) -> TransformationStatistics | None:
        """The ``statistics`` argument for a custom udf: its arguments' statistics (by argument name)."""
        if not self._statistics_arguments:
            return None
        by_arg = dict(zip(self.arguments, self.transformation_features, strict=True))
        stats = TransformationStatistics(*self._statistics_arguments)
        return stats._bound({a: fitted.get(by_arg[a]) or {} for a in self._statistics_arguments})

    def _run(self, inputs: Sequence[Any], fitted: dict[str, dict[str, Any]]) -> Any:
        """Call the custom udf on its input Series (in :attr:`transformation_features` order): the
        Series themselves, or (``mode="python"``) their values row by row, the outputs then coming
        back as one list per output column.

        Raises:
            InvalidArgumentError: when the function fails (its error and name in the message).
        """
        func = self._function()
        kwargs = {}
        stats = self._statistics_object(fitted)
        if stats is not None and self._statistics_argument:
            kwargs[self._statistics_argument] = stats
        try:
            if self.mode != "python":
                return func(*inputs, **kwargs)
            rows = [func(*values, **kwargs) for values in zip(*[list(s) for s in inputs], strict=True)]
            if len(self.return_types) == 1:
                return [rows]
            return (
                [list(column) for column in zip(*rows, strict=True)]
                if rows
                else [[]] * len(self.return_types)
            )
        except Exception as e:
            raise InvalidArgumentError(
                f"Transformation function {self!r} failed: {type(e).__name__}: {e}. Larder runs a udf from its "
                "source: its body may use pd, np, math and what it imports itself.",
                details={"function": self.function_name},
            ) from e

    def _function(self) -> Callable[..., Any]:
        if self.func is None:
            self.func = _rebuild(self.function_name, self._source or "", self._statistics_argument)
        return self.func

    # --- storage ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The function as the server stores it (a built-in by name; a custom udf with its source).

        Returns:
            dict: ``{"name", "builtin", "features", "output_names"}``, and for a custom udf its
            ``source``, ``return_types``, ``arguments``, ``drop``, ``mode`` and statistics arguments.

        Raises:
            InvalidArgumentError: a custom udf whose source cannot be read (see :attr:`source`).

        Example:
            >>> from larder.builtin_transformations import min_max_scaler
            >>> min_max_scaler("amount").to_dict()
            {'name': 'min_max_scaler', 'builtin': True, 'features': ['amount'], 'output_names': None}
        """
        out: dict[str, Any] = {
            "name": self.function_name,
            "builtin": self.builtin,
            "features": self.transformation_features,
            "output_names": self._output_names,
        }
        if not self.builtin:
            out.update(
                {
                    "source": self.source,
                    "return_types": self.return_types,
                    "arguments": self.arguments,
                    "drop": self._drop,
                    "mode": self.mode,
                    "statistics_argument": self._statistics_argument,
                    "statistics_arguments": self._statistics_arguments,
                }
            )
        return out

    @property
    def source(self) -> str:
        """The function's source (what the server stores for a custom udf).

        Raises:
            InvalidArgumentError: when Python cannot find it (a function made by ``exec`` or typed
                into a REPL without history)."""
        if self._source is None:
            assert self.func is not None
            try:
                source = textwrap.dedent(inspect.getsource(self.func))
                defined = [
                    n.name
                    for n in ast.parse(source).body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                ]
            except (OSError, TypeError, SyntaxError) as e:
                source, defined, reason = "", [], str(e)
            else:
                reason = "the source Python found is not the function's"
            if getattr(self.func, "__name__", None) not in defined:
                raise InvalidArgumentError(
                    f"The source of udf {self.function_name!r} cannot be read ({reason}); define it in a file or "
                    "a notebook cell (not with exec or in a REPL without history) so that it can be stored.",
                    details={"function": self.function_name},
                )
            self._source = source
        return self._source

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HopsworksUdf:
        """A function as :meth:`to_dict` stored it (a custom udf is rebuilt from its source when
        it first runs).

        Args:
            data (dict): what :meth:`to_dict` returned.

        Returns:
            HopsworksUdf: the function, bound to the stored features.

        Raises:
            InvalidArgumentError: an unknown built-in.

        Example:
            >>> HopsworksUdf.from_dict({"name": "label_encoder", "builtin": True, "features": ["category"]})
            label_encoder('category')
        """
        name = str(data["name"])
        if data.get("builtin"):
            out = builtin(name)
        else:
            out = cls(
                None,
                list(data.get("return_types") or ["float"]),
                list(data.get("drop") or []),
                str(data.get("mode") or "default"),
                name=name,
                source=str(data.get("source") or ""),
                arguments=list(data.get("arguments") or []),
                statistics_argument=data.get("statistics_argument"),
                statistics_arguments=list(data.get("statistics_arguments") or []),
            )
        out = out(*data["features"]) if data.get("features") else out
        if data.get("output_names"):
            out._output_names = list(data["output_names"])
        return out


def _signature(func: Callable[..., Any], name: str) -> tuple[list[str], str | None, list[str]]:
    """The feature arguments of ``func``, the name of its statistics argument and the arguments
    whose statistics it needs."""
    arguments: list[str] = []
    statistics_argument: str | None = None
    statistics_arguments: list[str] = []
    for p in inspect.signature(func).parameters.values():
        if isinstance(p.default, TransformationStatistics):
            statistics_argument = p.name
            statistics_arguments = list(p.default.features)
        elif p.name == "transformation_context":
            raise InvalidArgumentError(
                f"udf {name!r}: transformation_context is not supported by Larder; pass the values as features.",
                details={"function": name},
            )
        elif p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InvalidArgumentError(
                f"udf {name!r}: *args and **kwargs are not supported; name one argument per feature.",
                details={"function": name},
            )
        else:
            arguments.append(p.name)
    if not arguments:
        raise InvalidArgumentError(f"udf {name!r} takes no feature argument; give it one per feature.")
    unknown = [a for a in statistics_arguments if a not in arguments]
    if unknown:
        raise InvalidArgumentError(
            f"udf {name!r}: TransformationStatistics names {unknown}, which are not arguments of the function "
            f"({arguments}).",
            details={"function": name, "statistics": unknown},
        )
    return arguments, statistics_argument, statistics_arguments


def _rebuild(name: str, source: str, statistics_argument: str | None) -> Callable[..., Any]:
    """A custom udf's function from its stored source: decorators removed, the statistics
    argument's default replaced by None (the statistics are passed in), run with ``pd``, ``np``
    and ``math`` at hand."""
    import importlib

    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise InvalidArgumentError(
            f"The stored source of udf {name!r} does not parse ({e.msg}); recreate the feature view with the udf.",
            details={"function": name},
        ) from None
    fn = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None:
        raise InvalidArgumentError(f"The stored source of udf {name!r} holds no function definition.")
    fn.decorator_list = []
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    for i in range(len(args.defaults)):
        if positional[len(positional) - len(args.defaults) + i].arg == statistics_argument:
            args.defaults[i] = ast.Constant(None)
    for i, a in enumerate(args.kwonlyargs):
        if a.arg == statistics_argument:
            args.kw_defaults[i] = ast.Constant(None)
    tree.body = [fn]
    scope: dict[str, Any] = {"math": math, "TransformationStatistics": TransformationStatistics}
    for alias, module in (("pd", "pandas"), ("np", "numpy")):
        with contextlib.suppress(ImportError):  # the python extra installs both
            scope[alias] = importlib.import_module(module)
    exec(compile(ast.fix_missing_locations(tree), f"<udf {name}>", "exec"), scope)  # noqa: S102
    function: Callable[..., Any] = scope[fn.name]
    return function


def udf(
    return_type: Any, drop: str | list[str] | None = None, mode: str = "default"
) -> Callable[[Callable[..., Any]], HopsworksUdf]:
    """Make a Python function a transformation function (hsfs's ``@udf``).

    The function takes one pandas Series per feature argument and returns a Series (one output)
    or a DataFrame (one column per output). To use statistics of the training data, give it an
    argument whose default is :class:`TransformationStatistics` naming the arguments it needs
    statistics of; ``statistics.<argument>.mean`` (``min``, ``max``, ``stddev``, ``percentiles``,
    ``unique_values``, ``count``) then holds the values fitted on the training split.

    Args:
        return_type (type | list[type]): the output type, or one per output column: ``int``,
            ``float``, ``str``, ``bool``, ``bytes``, ``datetime``, ``date``.
        drop (str | list[str] | None): arguments whose features are removed from the output
            (default None: the inputs stay beside the outputs).
        mode (str): hsfs's execution mode: ``"python"`` calls the function row by row with plain
            values (one tuple per row back for several outputs); ``"default"`` and ``"pandas"``
            call it with pandas Series (hsfs's ``"default"`` uses plain values for single feature
            vectors: write such functions to take either).

    Returns:
        Callable: the decorator; it returns a :class:`HopsworksUdf`.

    Raises:
        InvalidArgumentError: an unsupported return type or mode, ``drop`` naming no argument,
            ``*args``, or hsfs's ``transformation_context``.

    Example:
        >>> from larder.hopsworks_udf import udf
        >>> from larder.transformation_statistics import TransformationStatistics
        >>> @udf(float, drop=["amount"])
        ... def centered(amount, statistics=TransformationStatistics("amount")):
        ...     return amount - statistics.amount.mean
        >>> centered.output_column_names, centered.statistics_features
        (['centered_amount'], ['amount'])
    """
    if mode not in ("default", "pandas", "python"):
        raise InvalidArgumentError(
            f"udf mode={mode!r} is not one of 'default', 'pandas', 'python'.", details={"mode": str(mode)}
        )
    types = [
        _type_name(t) for t in (return_type if isinstance(return_type, (list, tuple)) else [return_type])
    ]
    if not types:
        raise InvalidArgumentError("udf needs a return_type: @udf(float), or @udf([float, int]).")
    dropped = [drop] if isinstance(drop, str) else list(drop or [])

    def decorate(func: Callable[..., Any]) -> HopsworksUdf:
        if not callable(func):
            raise InvalidArgumentError(f"@udf decorates a function, not {type(func).__name__}.")
        return HopsworksUdf(func, types, dropped, mode)

    return decorate


def builtin(name: str) -> HopsworksUdf:
    """A built-in transformation function, unbound (``builtin("min_max_scaler")("amount")``).

    Args:
        name (str): one of ``min_max_scaler``, ``standard_scaler``, ``robust_scaler``,
            ``label_encoder``, ``one_hot_encoder``.

    Returns:
        HopsworksUdf: the function.

    Raises:
        InvalidArgumentError: naming the built-ins, for any other name.

    Example:
        >>> builtin("label_encoder")("category").output_column_names
        ['label_encoder_category']
    """
    if name not in BUILTINS:
        raise InvalidArgumentError(
            f"There is no built-in transformation function {name!r}; the built-ins are {sorted(BUILTINS)}.",
            details={"name": str(name)},
        )
    out_type = BUILTINS[name][0]
    return HopsworksUdf(
        None,
        [out_type],
        ["feature"],
        name=name,
        arguments=["feature"],
        statistics_argument="statistics",
        statistics_arguments=["feature"],
        builtin=True,
    )


# --- the transformations of a view ---------------------------------------------------------------


def check_functions(functions: Any, columns: list[str], view: str) -> list[HopsworksUdf]:
    """The view's functions, checked against the query's columns.

    Accepts hsfs 4's list (``[min_max_scaler("amount"), add_one]``) and hsfs 3's dict
    (``{"amount": min_max_scaler}``: the output keeps the feature's name).

    Raises:
        InvalidArgumentError: not a transformation function, a feature that is not a column of
            the query, a feature transformed twice, or two outputs with one name.
    """
    if functions is None:
        return []
    if isinstance(functions, dict):
        items = []
        for feature, fn in functions.items():
            fn = _as_udf(fn, view)
            items.append(fn(feature).alias(feature) if len(fn.return_types) == 1 else fn(feature))
    elif isinstance(functions, (list, tuple)):
        items = [_as_udf(f, view) for f in functions]
    else:
        raise InvalidArgumentError(
            f"Feature view '{view}': transformation_functions takes a list of transformation functions "
            f"(e.g. [min_max_scaler('amount')]), not {type(functions).__name__}."
        )
    for fn in items:
        unknown = [f for f in fn.transformation_features if f not in columns]
        if unknown:
            raise InvalidArgumentError(
                f"Feature view '{view}': {fn!r} transforms {unknown}, which the query does not select (it has "
                f"{columns}); bind it to a column: {fn.function_name}('<feature>').",
                details={"function": fn.function_name, "features": unknown},
            )
    names = [n for fn in items for n in fn.output_column_names]
    kept = set(columns) - {f for fn in items for f in fn.dropped_features}
    clash = sorted({n for n in names if names.count(n) > 1 or n in kept})
    if clash:
        raise InvalidArgumentError(
            f"Feature view '{view}': transformation functions output {clash}, which another function or a "
            "column of the query also names; name the outputs with .alias(...).",
            details={"columns": clash},
        )
    return items


def _as_udf(fn: Any, view: str) -> HopsworksUdf:
    if isinstance(fn, TransformationFunction):
        return fn.hopsworks_udf
    if isinstance(fn, HopsworksUdf):
        return fn
    raise InvalidArgumentError(
        f"Feature view '{view}': {fn!r} is not a transformation function; decorate it with @udf(return_type) "
        "or use one of larder.builtin_transformations.",
    )


def statistics_needed(functions: list[HopsworksUdf]) -> dict[str, list[str]]:
    """What to fit on the training split: column -> statistic names (merged over the functions)."""
    out: dict[str, list[str]] = {}
    for fn in functions:
        for column, kinds in fn._statistics_needed().items():
            merged = out.setdefault(column, [])
            merged.extend(k for k in kinds if k not in merged)
    return out


def make_plan(
    columns: list[str], functions: list[HopsworksUdf], statistics: dict[str, dict[str, Any]] | None
) -> TransformPlan:
    """The plan an engine runs to transform a frame of ``columns`` (see :class:`TransformPlan`):
    functions whose inputs are not all among ``columns`` are left out (a function over a label,
    in a feature vector, which holds no labels)."""
    stats = statistics or {}
    present = set(columns)
    usable = [fn for fn in functions if all(f in present for f in fn.transformation_features)]
    dropped = {f for fn in usable for f in fn.dropped_features}
    steps = []
    for fn in usable:
        outputs = fn._output_names_for(stats)
        types = (
            fn.return_types if len(fn.return_types) == len(outputs) else fn.return_types[:1] * len(outputs)
        )
        if fn.builtin:
            parameters = builtin_parameters(fn.function_name, stats.get(fn.transformation_features[0]) or {})
            steps.append(
                TransformStep(
                    repr(fn), fn.transformation_features, outputs, types, fn.function_name, parameters
                )
            )
        else:
            steps.append(
                TransformStep(
                    repr(fn),
                    fn.transformation_features,
                    outputs,
                    types,
                    call=_caller(fn, stats),
                )
            )
    order = sorted(n for step in steps for n in step.outputs)
    return TransformPlan([c for c in columns if c not in dropped], steps, order)


def _caller(fn: HopsworksUdf, stats: dict[str, dict[str, Any]]) -> Callable[[list[Any]], Any]:
    def call(inputs: list[Any]) -> Any:
        return fn._run(inputs, stats)

    return call


def labels_after(
    labels: list[str], functions: list[HopsworksUdf], statistics: dict[str, Any] | None
) -> list[str]:
    """The label columns after the transformations: a label a function transforms is replaced by
    that function's outputs; functions over labels only are applied to ``y``."""
    out: list[str] = []
    for label in labels:
        fns = [fn for fn in functions if label in fn.transformation_features]
        if any(label in fn.dropped_features for fn in fns):
            out.extend(n for fn in fns for n in fn._output_names_for(statistics) if n not in out)
        elif label not in out:
            out.append(label)
        for fn in fns:
            if label not in fn.dropped_features:
                out.extend(n for n in fn._output_names_for(statistics) if n not in out)
    return out


# --- the project's registry of functions -----------------------------------------------------------


class TransformationFunction:
    """A transformation function registered in a feature store under a name and version (hsfs 4's
    ``TransformationFunction``). Make one with :meth:`FeatureStore.create_transformation_function`
    and :meth:`save` it; get them back with :meth:`FeatureStore.get_transformation_function(s)
    <FeatureStore.get_transformation_functions>`. Calling it binds its udf to features, so it is
    attached to a feature view as the udf is.

    Attributes:
        name (str): the function's name.
        version (int | None): its version (None before :meth:`save`).
        hopsworks_udf (HopsworksUdf): the function.
        builtin (bool): a built-in (always present, version 1, not stored per project).

    Example:
        >>> plus_one = fs.create_transformation_function(add_one, version=1)  # doctest: +SKIP
        >>> plus_one.save()  # doctest: +SKIP
        >>> fs.get_transformation_function("add_one")("amount")  # doctest: +SKIP
        add_one('amount')
    """

    def __init__(
        self, feature_store: FeatureStore | None, hopsworks_udf: HopsworksUdf, version: int | None = None
    ) -> None:
        self._fs = feature_store
        self.hopsworks_udf = hopsworks_udf
        self.version = version
        self.builtin = hopsworks_udf.builtin

    @property
    def name(self) -> str:
        """The function's name."""
        return self.hopsworks_udf.function_name

    def __call__(self, *features: str) -> HopsworksUdf:
        return self.hopsworks_udf(*features)

    def __repr__(self) -> str:
        return f"TransformationFunction({self.name!r}, version={self.version})"

    def _path(self) -> str:
        assert self._fs is not None
        return f"/projects/{self._fs.project}/transformationfunctions"

    def save(self) -> TransformationFunction:
        """Register the function in the feature store (its source is stored; see the module's limits).

        Returns:
            TransformationFunction: itself, with its version set.

        Raises:
            AlreadyExistsError: the name and version are taken.
            InvalidArgumentError: a built-in (they need no saving), or source that cannot be read.

        Example:
            >>> fs.create_transformation_function(add_one, version=1).save()  # doctest: +SKIP
        """
        if self.builtin:
            raise InvalidArgumentError(
                f"{self.name} is a built-in transformation function: it is always available and is not saved."
            )
        if self._fs is None:
            raise InvalidArgumentError("This transformation function belongs to no feature store.")
        check_name("transformation function", self.name)
        definition = {k: v for k, v in self.hopsworks_udf.to_dict().items() if k != "builtin"}
        out = self._fs._rest.post(
            self._path(),
            {"name": self.name, "version": self.version, "definition": definition},
        )
        self.version = int(out["version"])
        return self

    def delete(self) -> None:
        """Remove the function from the feature store (views that use it keep their own copy).

        Raises:
            InvalidArgumentError: a built-in, or a function never saved.

        Example:
            >>> fs.get_transformation_function("add_one", version=1).delete()  # doctest: +SKIP
        """
        if self.builtin or self.version is None or self._fs is None:
            raise InvalidArgumentError(
                f"{self!r} is not a saved transformation function; there is nothing to delete."
            )
        self._fs._rest.delete(f"{self._path()}/{self.name}/{self.version}")


# --- a feature view's transformations -------------------------------------------------------------


class ViewTransformations:
    """What a :class:`~larder.feature_store.feature_view.FeatureView` does with its transformation
    functions: fit them on a training split, record the statistics with a training dataset
    version, find the statistics of a version, and apply them to frames and vectors (through the
    engine). Empty (falsy) for a view without functions: then every method leaves data as it is."""

    def __init__(self, view: Any, definitions: list[dict[str, Any]] | None) -> None:
        self._view = view
        self.functions = [HopsworksUdf.from_dict(d) for d in definitions or []]
        self._by_version: dict[int, dict[str, dict[str, Any]]] = {}
        self._default_version: int | None = None

    def __bool__(self) -> bool:
        return bool(self.functions)

    @property
    def needs_statistics(self) -> bool:
        return any(fn.needs_statistics for fn in self.functions)

    # --- training -----------------------------------------------------------------------------

    def fit(self, engine: Any, train: Any) -> dict[str, dict[str, Any]] | None:
        """The statistics the functions need, fitted on ``train`` (the training split only); None
        for a view without functions."""
        if not self.functions:
            return None
        needed = statistics_needed(self.functions)
        return dict(engine.fit_transformations(train, needed)) if needed else {}

    def fit_in_memory(
        self, engine: Any, train: Any, split: dict[str, Any]
    ) -> dict[str, dict[str, Any]] | None:
        """:meth:`fit`, and for functions that need statistics a training dataset version holding
        them and nothing else (as hsfs records in-memory training data), so that
        ``init_serving(training_dataset_version=...)`` finds them."""
        stats = self.fit(engine, train)
        if stats is None or not self.needs_statistics:
            return stats
        view = self._view
        meta = {
            "in_memory": True,
            "query_sql": view.query.to_string(),
            "split": split,
            "labels": view.labels,
            "transformation_statistics": stats,
        }
        rest = view._fs._rest
        td = rest.post(
            f"{view._path}/trainingdatasets", {"description": "in-memory training data", "metadata": meta}
        )
        rest.put(f"{view._path}/trainingdatasets/{td['version']}", {"metadata": {"rows": {}}})
        self._by_version[int(td["version"])] = stats
        import logging

        logging.getLogger("larder.feature_store").info(
            "Feature view '%s' version %s: transformation statistics fitted on the training split recorded as "
            "training dataset version %s.",
            view.name,
            view.version,
            td["version"],
        )
        return stats

    # --- reading --------------------------------------------------------------------------------

    def statistics(self, version: int | None) -> dict[str, dict[str, Any]]:
        """The statistics fitted for training dataset ``version`` (None: version 1, as hsfs, with a
        :class:`~larder.errors.VersionNotPinnedWarning` once when newer versions exist).

        Raises:
            NotFoundError: no such training dataset, or none yet (the message says what to do).
        """
        from larder.errors import NotFoundError

        if not self.needs_statistics:
            return {}
        view = self._view
        if version is None:
            if self._default_version is None:
                versions = [int(td["version"]) for td in view.get_training_datasets()]
                if not versions:
                    raise NotFoundError(
                        f"Feature view '{view.name}' version {view.version} applies transformation functions "
                        "fitted on training data, and has no training dataset yet: create one "
                        "(fv.create_training_data(), fv.train_test_split(...) or fv.training_data()), or read "
                        "raw values with transformed=False.",
                        details={"feature_view": view.name, "version": view.version},
                    )
                self._default_version = min(versions)
                if max(versions) != self._default_version:
                    import warnings

                    from larder._time import user_stacklevel
                    from larder.errors import VersionNotPinnedWarning

                    warnings.warn(
                        f"Feature view '{view.name}': no training_dataset_version given; applying the transformation "
                        f"statistics of training dataset version {self._default_version}, as hsfs does, although "
                        f"the newest is {max(versions)}. Pin it: fv.init_serving(training_dataset_version=...) or "
                        "fv.init_batch_scoring(...).",
                        VersionNotPinnedWarning,
                        stacklevel=user_stacklevel(),
                    )
            version = self._default_version
        if version not in self._by_version:
            td = view._fs._rest.get(f"{view._path}/trainingdatasets/{version}")
            self._by_version[version] = dict(td["metadata"].get("transformation_statistics") or {})
        return self._by_version[version]

    def apply(self, engine: Any, table: Any, stats: dict[str, dict[str, Any]]) -> tuple[Any, list[str]]:
        """``table`` transformed, and the label columns after the transformations."""
        plan = make_plan(engine.columns(table), self.functions, stats)
        return engine.apply_transformations(table, plan), labels_after(
            self._view.labels, self.functions, stats
        )

    def vector_plan(self, names: list[str], version: int | None) -> TransformPlan | None:
        """The plan that transforms feature vectors whose raw values come in ``names`` order."""
        if not self.functions:
            return None
        return make_plan(names, self.functions, self.statistics(version))
