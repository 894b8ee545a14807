"""Time arguments as hsfs accepts them, read as UTC instants.

Every time argument of the feature store and of search (``wallclock_time``, ``as_of``,
``read_changes``, ``start_time``/``end_time``, the split times, ``modified_after``/``_before``)
goes through :func:`to_utc`, which accepts:

- a timezone-aware ``datetime`` (or ``pandas.Timestamp``): converted to UTC;
- a naive ``datetime``: taken as UTC, with a :class:`~larder.errors.NaiveTimeWarning`;
- a ``date``: midnight UTC that day (with the same warning: a date has no time zone);
- a string: ISO 8601 (``"2024-01-31T12:00:00Z"``, ``"2024-01-31T12:00:00+01:00"``) or the forms
  hsfs documents, ``"%Y-%m-%d"``, ``"%Y-%m-%d %H:%M:%S"`` (also ``"%Y-%m-%d %H:%M"``,
  ``"%Y%m%d"``, ``"%Y%m%d%H%M%S"``); without an offset they are taken as UTC, with the warning;
- an ``int``: epoch **milliseconds** (as hsfs), UTC by definition. A value below 10^11 (before
  March 1973 in milliseconds, but a current time in seconds) is refused as ambiguous.

The warning is issued once per call site (Python's default warning filter) and pointed at the
caller's line; silence it with
``warnings.filterwarnings("ignore", category=larder.errors.NaiveTimeWarning)``.

Example:
    >>> to_utc(1704067200000, "as_of")
    datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> to_utc("2024-01-01T01:00:00+01:00", "as_of")
    datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import os
import sys
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from larder.errors import InvalidArgumentError, NaiveTimeWarning

EPOCH_MS_MIN = 10**11
"""Smaller positive integers are refused: they look like epoch seconds, not milliseconds."""

FORMS = (
    "a timezone-aware datetime, a naive datetime or a date (taken as UTC), epoch milliseconds (int), "
    "or a string such as '2024-01-31', '2024-01-31 12:00:00' or '2024-01-31T12:00:00Z'"
)

_PACKAGE = str(Path(__file__).resolve().parent) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside the larder package
    (the user's line), whatever the depth of the call inside it."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn_naive(message: str) -> None:
    """Issue a :class:`NaiveTimeWarning` at the user's line (once per call site by default)."""
    warnings.warn(message, NaiveTimeWarning, stacklevel=user_stacklevel())


def to_utc(value: Any, what: str) -> datetime | None:
    """``value`` as a timezone-aware UTC ``datetime`` (None stays None); see the module.

    Args:
        value (Any): a datetime, date, string, epoch milliseconds (int) or None.
        what (str): the argument's name, for messages (e.g. ``"start_time"``).

    Returns:
        datetime | None: the instant, in UTC.

    Raises:
        InvalidArgumentError: on another type, an unparseable string, a float, or an integer
            that looks like epoch seconds.

    Example:
        >>> to_utc("2024-01-31 12:00:00+00:00", "end_time")
        datetime.datetime(2024, 1, 31, 12, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if hasattr(value, "to_pydatetime") and not isinstance(value, datetime):  # numpy/pandas scalars
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            warn_naive(
                f"{what}={value.isoformat()} has no time zone; it is taken as UTC (as hsfs does). Pass a "
                "timezone-aware datetime to be explicit, e.g. datetime(..., tzinfo=timezone.utc)."
            )
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    if isinstance(value, date):
        warn_naive(f"{what}={value.isoformat()} is a date: it is taken as midnight UTC (as hsfs does).")
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, bool):
        raise InvalidArgumentError(
            f"{what} must be a time, not {value!r}; use {FORMS}.", details={what: str(value)}
        )
    if isinstance(value, int):
        if 0 < abs(value) < EPOCH_MS_MIN:
            raise InvalidArgumentError(
                f"{what}={value} is ambiguous: as epoch milliseconds (what Larder and hsfs read) it is "
                f"{datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value):%Y-%m-%d %H:%M}, "
                f"but it looks like epoch seconds; pass milliseconds ({value * 1000}) or a datetime.",
                details={what: value},
            )
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidArgumentError(
                f"{what}={value!r} is not a time Larder can read; use {FORMS}.", details={what: value}
            ) from None
        if parsed.tzinfo is None:
            warn_naive(
                f"{what}={value!r} has no time zone; it is taken as UTC (as hsfs does). Add one to be "
                "explicit, e.g. '2024-01-31T12:00:00Z'."
            )
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    raise InvalidArgumentError(
        f"{what} must be a time, not a {type(value).__name__} ({value!r}); use {FORMS}.",
        details={what: repr(value)[:100]},
    )
