"""Larder: an open ML data platform and the connector that reaches it from anywhere.

``import larder`` is cheap: it imports no pandas, pyarrow, boto3 or server code. Heavy modules
load when first used.

Example:
    >>> import larder
    >>> larder.__version__  # doctest: +SKIP
    '0.1.0'
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "errors"]


def __getattr__(name: str) -> Any:
    if name == "errors":
        import importlib

        return importlib.import_module("larder.errors")
    raise AttributeError(f"module 'larder' has no attribute {name!r}")
