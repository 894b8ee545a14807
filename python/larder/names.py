"""Name rules shared by the server and the client, so both refuse the same bad names.

- user names: ``^[a-z][a-z0-9_-]{1,31}$`` (2 to 32 characters, lowercase, starts with a letter).
- project names: ``^[a-z][a-z0-9_]{1,62}$`` (2 to 63 characters, lowercase letters, digits and
  underscores, starts with a letter; they become parts of paths, certificate subjects and SQL
  identifiers such as ``<project>_featurestore``).
- API key names: ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`` (1 to 64 characters).
"""

from __future__ import annotations

import re

from larder.errors import InvalidArgumentError

USER_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"
PROJECT_NAME_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
API_KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

_RULES = {
    "user": (
        USER_NAME_PATTERN,
        "2-32 characters: lowercase letters, digits, '_' or '-', starting with a letter",
    ),
    "project": (
        PROJECT_NAME_PATTERN,
        "2-63 characters: lowercase letters, digits or '_', starting with a letter",
    ),
    "api key": (API_KEY_NAME_PATTERN, "1-64 characters: letters, digits, '_', '.' or '-'"),
}


def check_name(kind: str, value: object) -> str:
    """Validate a name of the given kind and return it.

    Args:
        kind (str): ``"user"``, ``"project"`` or ``"api key"``.
        value (object): the candidate name.

    Returns:
        str: the name, unchanged.

    Raises:
        InvalidArgumentError: when the name does not match the kind's documented pattern.

    Example:
        >>> check_name("project", "fraud_detection")
        'fraud_detection'
    """
    pattern, rule = _RULES[kind]
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        shown = value if isinstance(value, str) and len(value) <= 80 else f"{str(value)[:80]}..."
        raise InvalidArgumentError(
            f"Invalid {kind} name {shown!r}: use {rule}.",
            details={"kind": kind, "value": shown, "pattern": pattern},
        )
    return value
