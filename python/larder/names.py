"""Name rules shared by the server and the client, so both refuse the same bad names.

- user names: ``^[a-z][a-z0-9_-]{1,31}$`` (2 to 32 characters, lowercase, starts with a letter).
- project names: ``^[a-z][a-z0-9_]{1,62}$`` (2 to 63 characters, lowercase letters, digits and
  underscores, starts with a letter; they become parts of paths, certificate subjects and SQL
  identifiers such as ``<project>_featurestore``).
- API key names: ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`` (1 to 64 characters).
- object store and namespace names: ``^[a-z][a-z0-9_-]{1,62}$`` (2 to 63 characters).
- dataset names: ``^[a-z][a-z0-9_-]{1,79}$`` (2 to 80 characters; a project's own datasets are
  ``<project>_featurestore`` and ``<project>_models``).
- feature group and feature view names: ``^[a-z][a-z0-9_]{0,62}$`` (SQL identifiers, so that
  ``fs.sql("SELECT * FROM weather")`` can name them); feature (column) names:
  ``^[A-Za-z_][A-Za-z0-9_]{0,62}$``.
- model names: ``^[a-z][a-z0-9_-]{1,62}$`` (2 to 63 characters, lowercase letters, digits, ``_`` or
  ``-``, starting with a letter; a model's artifacts live under ``<project>_models/<name>/<version>/``).
- object keys inside a dataset: see :func:`check_object_key`.
- model artifact checksum algorithms: :data:`CHECKSUM_ALGORITHMS`.
"""

from __future__ import annotations

import re

from larder.errors import InvalidArgumentError

USER_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"
PROJECT_NAME_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
API_KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
STORAGE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,62}$"
DATASET_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,79}$"
MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,62}$"
TAG_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
FEATURE_GROUP_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
FEATURE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
_FG_RULE = "1-63 characters: lowercase letters, digits or '_', starting with a letter"
MAX_OBJECT_KEY_BYTES = 1024
# check_object_key's rules as one regular expression (for the OpenAPI document; ECMA and Python
# alike): no leading '/', no '//' (empty segment), no '.' or '..' segment, no '.larder-' last
# segment, no control character or backslash, no trailing '/'
OBJECT_KEY_PATTERN = (
    r"^(?!/)(?!.*//)(?!(.*/)?\.\.?(/|$))(?!(.*/)?\.larder-[^/]*$)[^\x00-\x1f\x7f\\]{1,1024}(?<!/)$"
)
CHECKSUM_ALGORITHMS = ("sha256", "blake3")
"""The checksums a model artifact manifest may name: 256-bit digests, 64 hex digits."""
_STORAGE_RULE = "2-63 characters: lowercase letters, digits, '_' or '-', starting with a letter"

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
    "object store": (STORAGE_NAME_PATTERN, _STORAGE_RULE),
    "namespace": (STORAGE_NAME_PATTERN, _STORAGE_RULE),
    "feature group": (FEATURE_GROUP_NAME_PATTERN, _FG_RULE),
    "feature view": (FEATURE_GROUP_NAME_PATTERN, _FG_RULE),
    "transformation function": (FEATURE_GROUP_NAME_PATTERN, _FG_RULE),
    "dataset": (
        DATASET_NAME_PATTERN,
        "2-80 characters: lowercase letters, digits, '_' or '-', starting with a letter",
    ),
    "model": (MODEL_NAME_PATTERN, _STORAGE_RULE),
}


def check_name(kind: str, value: object) -> str:
    """Validate a name of the given kind and return it.

    Args:
        kind (str): ``"user"``, ``"project"``, ``"api key"``, ``"object store"``, ``"namespace"``,
            ``"dataset"`` or ``"model"``.
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


def check_object_key(key: object, allow_empty: bool = False) -> str:
    """Validate an object key inside a dataset (``"raw/2024.csv"``) and return it.

    A key is a relative, ``/``-separated path of at most 1024 bytes (UTF-8) with no empty, ``.``
    or ``..`` segment, no leading ``/``, no backslash, and no NUL or control character. Keys whose
    last segment starts with ``.larder-`` are reserved for in-flight writes.

    Args:
        key (object): the candidate key.
        allow_empty (bool): accept ``""`` (the dataset root), default False.

    Returns:
        str: the key, unchanged.

    Raises:
        InvalidArgumentError: naming the key and the rule it breaks; raised before any storage is touched.

    Example:
        >>> check_object_key("raw/2024.csv")
        'raw/2024.csv'
    """

    def bad(rule: str) -> InvalidArgumentError:
        shown = repr(key)[:120]
        return InvalidArgumentError(
            f"Invalid object key {shown}: {rule}.", details={"key": shown, "rule": rule}
        )

    if not isinstance(key, str):
        raise bad("a key is a string")
    if key == "":
        if allow_empty:
            return key
        raise bad("it is empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_OBJECT_KEY_BYTES:
        raise bad(f"it is longer than {MAX_OBJECT_KEY_BYTES} bytes")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise bad("it contains a NUL or control character")
    if key.startswith("/"):
        raise bad("absolute paths are not allowed; use a path relative to the dataset")
    if "\\" in key:
        raise bad("backslashes are not allowed; separate folders with '/'")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise bad("empty, '.' and '..' path segments are not allowed")
    if key.rsplit("/", 1)[-1].startswith(".larder-"):
        raise bad("names starting with '.larder-' are reserved")
    return key
