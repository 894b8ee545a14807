"""The feature store: feature groups, features, queries, feature views and training data.

Get a project's feature store from a connection with
:meth:`larder.connection.Connection.get_feature_store`.
"""

from __future__ import annotations

from larder.feature_store.feature_store import FeatureStore

__all__ = ["FeatureStore"]
