"""The path and query parameters of the REST API, with the bounds and patterns the services
enforce, so that the OpenAPI document says what is accepted and no unbounded value reaches the
database (an integer above 64 bits in a path once answered 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from larder.names import (
    _RULES,
    API_KEY_NAME_PATTERN,
    DATASET_NAME_PATTERN,
    FEATURE_GROUP_NAME_PATTERN,
    MODEL_NAME_PATTERN,
    OBJECT_KEY_PATTERN,
    PROJECT_NAME_PATTERN,
    STORAGE_NAME_PATTERN,
    TAG_NAME_PATTERN,
    USER_NAME_PATTERN,
)

PATTERN_HELP: dict[str, str] = {
    pattern: f"a valid {kind} name: {rule}" for kind, (pattern, rule) in _RULES.items()
}
"""pattern -> what a value matching it is, in words (for validation messages); the API's other
patterns add themselves with :func:`explained`."""


def explained(pattern: str, help_text: str) -> str:
    """``pattern``, remembered with the words a validation message uses for it."""
    PATTERN_HELP[pattern] = help_text
    return pattern


MAX_VERSION = 2**31 - 1
"""The largest version number of anything (feature groups, views, training datasets, models)."""
MAX_INT = 2**53 - 1
"""The largest count or size a body may carry (ids, rows, bytes): exact as a JSON double too."""

ProjectName = Annotated[str, Path(pattern=PROJECT_NAME_PATTERN, max_length=63, description="A project name")]
OtherProject = Annotated[
    str, Path(pattern=PROJECT_NAME_PATTERN, max_length=63, description="The project shared with")
]
UserName = Annotated[str, Path(pattern=USER_NAME_PATTERN, max_length=32, description="A user name")]
KeyName = Annotated[
    str, Path(pattern=API_KEY_NAME_PATTERN, max_length=64, description="An API key's name or prefix")
]
StorageName = Annotated[str, Path(pattern=STORAGE_NAME_PATTERN, max_length=63, description="A namespace")]
DatasetName = Annotated[str, Path(pattern=DATASET_NAME_PATTERN, max_length=80, description="A dataset")]
FgName = Annotated[
    str, Path(pattern=FEATURE_GROUP_NAME_PATTERN, max_length=63, description="A feature group or view name")
]
ModelName = Annotated[str, Path(pattern=MODEL_NAME_PATTERN, max_length=63, description="A model name")]
TagName = Annotated[str, Path(pattern=TAG_NAME_PATTERN, max_length=63, description="A tag name")]
Version = Annotated[int, Path(ge=1, le=MAX_VERSION, description="A version number, from 1")]
Token = Annotated[str, Path(pattern=r"^[0-9a-f]{8,64}$", max_length=64, description="A write lease token")]
# object keys: the pattern (with look-arounds, which pydantic's regex engine lacks) is declared
# for clients, and checked by the services (``names.check_object_key``, which names the rule broken)
ObjectKey = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1024,
        json_schema_extra={"pattern": OBJECT_KEY_PATTERN},
        description="An object key inside the dataset: a relative '/'-separated path (at most 1024 bytes)",
    ),
]
ObjectKeyOrRoot = Annotated[
    str,
    Query(
        max_length=1024,
        json_schema_extra={"pattern": r"^$|" + OBJECT_KEY_PATTERN},
        description="An object key, or with prefix=true a folder ('' is the whole dataset)",
    ),
]
