"""The model registry: models, model versions and their schemas.

Get a project's registry from a connection with
:meth:`larder.connection.Connection.get_model_registry`.
"""

from __future__ import annotations

from larder.model_registry.model_registry import ModelRegistry

__all__ = ["ModelRegistry"]
