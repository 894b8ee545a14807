"""The model registry: versioned models with artifacts, metrics, schemas, tags and lineage.

Get a project's registry from a connection with
:meth:`larder.connection.Connection.get_model_registry`, create models through a framework flavour
(``mr.python``, ``mr.sklearn``, ``mr.torch``, ``mr.tensorflow``) and register them with
:meth:`Model.save`. Artifacts stream directly between the client and the object store.

Example:
    >>> mr = conn.get_model_registry()  # doctest: +SKIP
    >>> model = mr.sklearn.create_model("fraud", metrics={"auc": 0.91},
    ...                                 model_schema=ModelSchema(Schema(X), Schema(y)))  # doctest: +SKIP
    >>> model.save("model_dir")  # doctest: +SKIP
    >>> mr.get_best_model("fraud", "auc").download("/tmp/fraud")  # doctest: +SKIP
"""

from __future__ import annotations

from larder.model_registry._transfer import ArtifactCorruptedError
from larder.model_registry.model import Model
from larder.model_registry.model_registry import Flavour, ModelRegistry
from larder.model_registry.schema import ModelSchema, Schema

__all__ = ["ArtifactCorruptedError", "Flavour", "Model", "ModelRegistry", "ModelSchema", "Schema"]
