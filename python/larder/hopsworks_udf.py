"""hsfs's ``hsfs.hopsworks_udf`` module path: ``from larder.hopsworks_udf import udf``.

Example:
    >>> from larder.hopsworks_udf import udf
    >>> @udf(float)
    ... def double(x):
    ...     return x * 2
    >>> double
    double('x')
"""

from __future__ import annotations

from larder.feature_store.transformation_functions import HopsworksUdf, udf

__all__ = ["HopsworksUdf", "udf"]
