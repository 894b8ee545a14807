"""Sync policies: which changes of a dataset sync, in the shape Hoss's sync service uses.

A policy is ``{"Version": "1", "Effect": "OR"|"AND", "Statements": [...]}``; a statement is
``{"Id": str, "Effect": "AND"|"OR", "Conditions": [...]}``; a condition is
``{"Left": operand, "Operator": op, "Right": value}`` with ``Left`` one of ``event:operation``
(``"PUT"`` or ``"DELETE"``), ``object:key`` (the key in the dataset), ``object:size`` (bytes),
``object:metadata`` (with ``has``) or ``object:metadata:<name>``, and ``Operator`` one of
``==``, ``!=`` (globs for strings), ``>``, ``<``, ``>=``, ``<=`` (numbers) or ``has``. Statements
are OR-ed by default, a statement's conditions AND-ed. No statements (or no policy): everything
syncs.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from larder.errors import InvalidArgumentError

OPERATORS = ("==", "!=", ">", "<", ">=", "<=", "has")
NUMERIC = (">", "<", ">=", "<=")
EFFECTS = ("AND", "OR")
MAX_STATEMENTS = 64
MAX_CONDITIONS = 64


def _bad(where: str, problem: str, value: Any) -> InvalidArgumentError:
    shown = json.dumps(value, default=str)[:200]
    return InvalidArgumentError(
        f"Sync policy {where}: {problem} (got {shown}). See docs/linked-servers.md#sync-policies.",
        details={"where": where},
    )


def _check_condition(where: str, c: Any) -> dict[str, Any]:
    if (
        not isinstance(c, Mapping)
        or set(c) - {"Left", "Right", "Operator"}
        or not {"Left", "Operator"} <= set(c)
    ):
        raise _bad(where, "a condition is {'Left': ..., 'Operator': ..., 'Right': ...}", c)
    left, op, right = c["Left"], c["Operator"], c.get("Right", "")
    if op not in OPERATORS:
        raise _bad(where, f"unknown Operator {op!r}; use one of {', '.join(OPERATORS)}", c)
    if left == "event:operation":
        if op not in ("==", "!=") or right not in ("PUT", "DELETE"):
            raise _bad(where, "event:operation compares with == or != to 'PUT' or 'DELETE'", c)
    elif left == "object:key":
        if op not in ("==", "!=") or not isinstance(right, str):
            raise _bad(where, "object:key compares with == or != to a glob string such as '*.raw'", c)
    elif left == "object:size":
        if op not in ("==", "!=", *NUMERIC) or isinstance(right, bool) or not isinstance(right, (int, float)):
            raise _bad(where, "object:size compares to a number of bytes", c)
    elif left == "object:metadata":
        if op != "has" or not isinstance(right, str) or not right:
            raise _bad(where, "object:metadata is used with 'has' and a metadata name", c)
    elif (
        isinstance(left, str) and left.startswith("object:metadata:") and len(left) > len("object:metadata:")
    ):
        if (
            op not in ("==", "!=", *NUMERIC)
            or not isinstance(right, (str, int, float))
            or isinstance(right, bool)
        ):
            raise _bad(where, "object:metadata:<name> compares to a string (glob) or a number", c)
    else:
        raise _bad(
            where,
            "Left must be event:operation, object:key, object:size, object:metadata or object:metadata:<name>",
            c,
        )
    return {"Left": left, "Operator": op, "Right": right}


def check_policy(policy: Any) -> dict[str, Any] | None:
    """Validate a policy; the normalized policy, or None for "everything syncs".

    Raises:
        InvalidArgumentError: naming the first bad statement or condition.
    """
    if policy is None:
        return None
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError as e:
            raise _bad("text", f"not JSON ({e.msg} at character {e.pos})", policy[:200]) from None
    if not isinstance(policy, Mapping) or set(policy) - {"Version", "Effect", "Statements"}:
        raise _bad("", "a policy is {'Version': '1', 'Effect': 'OR', 'Statements': [...]}", policy)
    if str(policy.get("Version", "1")) != "1":
        raise _bad("Version", "only Version '1' is defined", policy.get("Version"))
    effect = policy.get("Effect", "OR")
    if effect not in EFFECTS:
        raise _bad("Effect", "use 'AND' or 'OR'", effect)
    statements = policy.get("Statements", [])
    if not isinstance(statements, list) or len(statements) > MAX_STATEMENTS:
        raise _bad("Statements", f"a list of at most {MAX_STATEMENTS} statements", statements)
    out = []
    for i, st in enumerate(statements):
        where = f"statement {i}"
        if not isinstance(st, Mapping) or set(st) - {"Id", "Effect", "Conditions"}:
            raise _bad(where, "a statement is {'Id': ..., 'Effect': 'AND', 'Conditions': [...]}", st)
        where = f"statement {i} ({st.get('Id', '')!s:.40})" if st.get("Id") else where
        st_effect = st.get("Effect", "AND")
        if st_effect not in EFFECTS:
            raise _bad(where, "Effect is 'AND' or 'OR'", st_effect)
        conditions = st.get("Conditions", [])
        if not isinstance(conditions, list) or not conditions or len(conditions) > MAX_CONDITIONS:
            raise _bad(where, f"Conditions is a list of 1 to {MAX_CONDITIONS} conditions", conditions)
        checked = [_check_condition(f"{where}, condition {j}", c) for j, c in enumerate(conditions)]
        out.append({"Id": str(st.get("Id", "")), "Effect": st_effect, "Conditions": checked})
    return {"Version": "1", "Effect": effect, "Statements": out} if out else None


def _number(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _holds(c: Mapping[str, Any], operation: str, key: str, size: int, metadata: Mapping[str, str]) -> bool:
    left, op, right = c["Left"], c["Operator"], c["Right"]
    if left == "object:metadata":
        return right in metadata
    value: Any
    if left == "event:operation":
        value = operation
    elif left == "object:key":
        value = key
    elif left == "object:size":
        value = size
    else:
        value = metadata.get(left[len("object:metadata:") :], "")
    if op in NUMERIC:
        a, b = _number(value), _number(right)
        if a is None or b is None:
            return False
        return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]
    if isinstance(right, str):
        equal = fnmatch.fnmatchcase(str(value), right) if right else value in ("", None)
    else:
        equal = _number(value) == float(right)
    return equal if op == "==" else not equal


def allows(
    policy: Mapping[str, Any] | None,
    operation: str,
    key: str,
    size: int = 0,
    metadata: Mapping[str, str] | None = None,
) -> bool:
    """Whether a change syncs: ``operation`` is ``"PUT"`` or ``"DELETE"``, ``key`` the key in the dataset."""
    if not policy or not policy.get("Statements"):
        return True
    md = metadata or {}
    results = []
    for st in policy["Statements"]:
        held = [_holds(c, operation, key, size, md) for c in st["Conditions"]]
        results.append(all(held) if st["Effect"] == "AND" else any(held))
    return all(results) if policy["Effect"] == "AND" else any(results)
