"""hsfs's ``hsfs.transformation_function`` module path.

Example:
    >>> from larder.transformation_function import TransformationFunction
    >>> TransformationFunction.__name__
    'TransformationFunction'
"""

from __future__ import annotations

from larder.feature_store.transformation_functions import TransformationFunction

__all__ = ["TransformationFunction"]
