"""Features and filters: ``fg.temp > 10``, ``(fg.origin == "JFK") & fg.dep_delay.isin([1, 2])``.

A filter becomes a condition of the query's plan (``larder.plan``), which each engine compiles;
the python engine writes it as duckdb SQL with every value a literal, never pasted text
(:meth:`Filter.to_sql` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from larder.errors import InvalidArgumentError
from larder.plan import Term, check_value

if TYPE_CHECKING:
    from larder.feature_store.feature_group import FeatureGroup


@dataclass(frozen=True)
class Feature:
    """One feature (column) of a feature group: its name and Arrow type.

    Comparison operators build :class:`Filter` objects: ``fg.temp > 10``, ``fg.origin == "JFK"``,
    ``fg.carrier.isin(["AA", "UA"])``, ``fg.tailnum.like("N1%")``, ``fg.wind_gust.is_null()``.

    Attributes:
        name (str): the column name.
        type (str): the Arrow type, e.g. ``"double"``, ``"string"``, ``"timestamp[us, tz=UTC]"``.
        primary (bool): part of the primary key.
        event_time (bool): the event time column.
        feature_group (FeatureGroup | None): the feature group it belongs to.
        description (str): what it holds (``fg.update_feature_description``; default ``""``).

    Example:
        >>> temp = Feature("temp", "double")
        >>> (temp > 10).to_sql()
        '"temp" > 10'
    """

    name: str
    type: str
    primary: bool = False
    event_time: bool = False
    feature_group: FeatureGroup | None = None
    description: str = ""

    def __repr__(self) -> str:
        return f"Feature({self.name!r}, {self.type!r})"

    def _filter(self, op: str, value: Any) -> Filter:
        return Filter(self, op, value)

    def __eq__(self, other: object) -> Filter:  # type: ignore[override]
        return self._filter("=", other)

    def __ne__(self, other: object) -> Filter:  # type: ignore[override]
        return self._filter("<>", other)

    def __lt__(self, other: Any) -> Filter:
        return self._filter("<", other)

    def __le__(self, other: Any) -> Filter:
        return self._filter("<=", other)

    def __gt__(self, other: Any) -> Filter:
        return self._filter(">", other)

    def __ge__(self, other: Any) -> Filter:
        return self._filter(">=", other)

    def __hash__(self) -> int:
        return hash((self.name, self.type))

    def isin(self, values: list[Any] | tuple[Any, ...] | set[Any]) -> Filter:
        """True where the feature's value is one of some values (SQL ``IN``).

        Args:
            values (list | tuple | set): the values, at least one.

        Returns:
            Filter: the condition.

        Raises:
            InvalidArgumentError: on an empty collection, or a value that cannot be a SQL literal.

        Example:
            >>> print(Feature("carrier", "string").isin(["AA", "UA"]).to_sql())
            "carrier" IN ('AA', 'UA')
        """
        values = list(values)
        if not values:
            raise InvalidArgumentError(f"isin() on '{self.name}' needs at least one value.")
        return self._filter("IN", values)

    def like(self, pattern: str) -> Filter:
        """True where the feature matches a SQL ``LIKE`` pattern.

        Args:
            pattern (str): ``%`` matches any run of characters, ``_`` one character.

        Returns:
            Filter: the condition.

        Raises:
            InvalidArgumentError: when ``pattern`` is not a string.

        Example:
            >>> print(Feature("tailnum", "string").like("N1%").to_sql())
            "tailnum" LIKE 'N1%'
        """
        if not isinstance(pattern, str):
            raise InvalidArgumentError(f"like() on '{self.name}' needs a string pattern, got {pattern!r}.")
        return self._filter("LIKE", pattern)

    def is_null(self) -> Filter:
        """True where the feature is null.

        Returns:
            Filter: the condition.

        Example:
            >>> Feature("wind_gust", "double").is_null().to_sql()
            '"wind_gust" IS NULL'
        """
        return self._filter("IS NULL", None)

    def not_null(self) -> Filter:
        """True where the feature is not null.

        Returns:
            Filter: the condition.

        Example:
            >>> Feature("wind_gust", "double").not_null().to_sql()
            '"wind_gust" IS NOT NULL'
        """
        return self._filter("IS NOT NULL", None)


class _Condition:
    def __and__(self, other: _Condition) -> Logic:
        return Logic("AND", self, _check_condition(other))

    def __or__(self, other: _Condition) -> Logic:
        return Logic("OR", self, _check_condition(other))

    def __invert__(self) -> Logic:
        return Logic("NOT", self, None)

    def __bool__(self) -> bool:
        raise InvalidArgumentError(
            "A filter has no truth value: combine filters with & and | (not 'and'/'or'), with parentheses: "
            "(fg.a > 1) & (fg.b == 'x')."
        )

    def to_sql(self, alias: str | None = None) -> str:
        raise NotImplementedError

    def features(self) -> list[Feature]:
        raise NotImplementedError


def _check_condition(value: Any) -> _Condition:
    if not isinstance(value, _Condition):
        raise InvalidArgumentError(f"Combine filters with filters, not {type(value).__name__}: {value!r}.")
    return value


class Filter(_Condition):
    """One condition on one feature, e.g. ``fg.temp > 10``; made by comparing a :class:`Feature`.

    Combine filters with ``&`` (AND), ``|`` (OR) and ``~`` (NOT), with parentheses; ``and``/``or``
    raise :class:`~larder.errors.InvalidArgumentError`, since a filter has no truth value.

    Attributes:
        feature (Feature): the feature it tests.
        op (str): the SQL operator: ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``IN``, ``LIKE``,
            ``IS NULL`` or ``IS NOT NULL``.
        value (Any): the value compared with (a list for ``IN``; None for the null tests).

    Example:
        >>> f = Feature("temp", "double") > 10
        >>> f
        Filter(temp > 10)
        >>> print((f & (Feature("origin", "string") == "JFK")).to_sql())
        ("temp" > 10 AND "origin" = 'JFK')
    """

    def __init__(self, feature: Feature, op: str, value: Any) -> None:
        self.feature = feature
        self.op = op
        if op not in (
            "IS NULL",
            "IS NOT NULL",
        ):  # refuse bad values now, not at query time (naive times: UTC)
            value = [check_value(v) for v in value] if op == "IN" else check_value(value)
        self.value = value

    def __repr__(self) -> str:
        return f"Filter({self.feature.name} {self.op} {self.value!r})"

    def to_sql(self, alias: str | None = None) -> str:
        """The condition as the python engine's SQL (duckdb); values are SQL literals, never pasted text.

        Args:
            alias (str | None): a table alias to qualify the column with (default none).

        Returns:
            str: e.g. ``'fg0."temp" > 10'``.

        Example:
            >>> (Feature("temp", "double") > 10).to_sql("fg0")
            'fg0."temp" > 10'
        """
        from larder.engine.python.sql import render

        return render(Term("", self.feature.name, self.op, self.value), {"": alias or ""})

    def features(self) -> list[Feature]:
        """The features the condition uses.

        Returns:
            list[Feature]: ``[self.feature]``.

        Example:
            >>> (Feature("temp", "double") > 10).features()
            [Feature('temp', 'double')]
        """
        return [self.feature]


class Logic(_Condition):
    """Filters combined with ``&`` (AND), ``|`` (OR) and ``~`` (NOT).

    Attributes:
        op (str): ``"AND"``, ``"OR"`` or ``"NOT"``.
        left (Filter | Logic): the first operand.
        right (Filter | Logic | None): the second operand (None for ``NOT``).

    Example:
        >>> temp, origin = Feature("temp", "double"), Feature("origin", "string")
        >>> print((~((temp > 10) | (origin == "EWR"))).to_sql())
        (NOT ("temp" > 10 OR "origin" = 'EWR'))
    """

    def __init__(self, op: str, left: _Condition, right: _Condition | None) -> None:
        self.op = op
        self.left = left
        self.right = right

    def __repr__(self) -> str:
        return f"Logic({self.op}, {self.left!r}, {self.right!r})"

    def to_sql(self, alias: str | None = None) -> str:
        """The combined condition as duckdb SQL, in parentheses.

        Args:
            alias (str | None): a table alias to qualify the columns with (default none).

        Returns:
            str: e.g. ``'("temp" > 10 AND "origin" = 'JFK')'``.

        Example:
            >>> ((Feature("a", "double") > 1) & (Feature("b", "double") < 2)).to_sql()
            '("a" > 1 AND "b" < 2)'
        """
        if self.op == "NOT":
            return f"(NOT {self.left.to_sql(alias)})"
        assert self.right is not None
        return f"({self.left.to_sql(alias)} {self.op} {self.right.to_sql(alias)})"

    def features(self) -> list[Feature]:
        """The features the combined condition uses, left to right (with repeats).

        Returns:
            list[Feature]: the features of both operands.

        Example:
            >>> ((Feature("a", "double") > 1) & (Feature("b", "double") < 2)).features()
            [Feature('a', 'double'), Feature('b', 'double')]
        """
        return self.left.features() + (self.right.features() if self.right is not None else [])
