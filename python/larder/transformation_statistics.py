"""hsfs's ``hsfs.transformation_statistics`` module path.

Example:
    >>> from larder.transformation_statistics import TransformationStatistics
    >>> TransformationStatistics("amount")
    TransformationStatistics('amount')
"""

from __future__ import annotations

from larder.feature_store.transformation_functions import (
    FeatureTransformationStatistics,
    TransformationStatistics,
)

__all__ = ["FeatureTransformationStatistics", "TransformationStatistics"]
