"""The handle of one project's feature store."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from larder.connection import Connection


class FeatureStore:
    """A project's feature store, as handed out by :meth:`Connection.get_feature_store`.

    It only holds state (its name, project and connection); creating it makes no REST call.
    Feature groups, feature views and training data are reached through it.

    Args:
        name (str): the feature store's name, ``"<project>_featurestore"``.
        project (str): the project that owns it (the caller's, or a project shared with the caller).
        connection (Connection): the connection it talks through.

    Example:
        >>> import larder
        >>> fs = larder.connection().get_feature_store()  # doctest: +SKIP
        >>> fs.name  # doctest: +SKIP
        'default_featurestore'
    """

    def __init__(self, name: str, project: str, connection: Connection) -> None:
        self._name = name
        self._project = project
        self._connection = connection

    @property
    def name(self) -> str:
        """The feature store's name, ``"<project>_featurestore"``."""
        return self._name

    @property
    def project(self) -> str:
        """The project that owns the feature store."""
        return self._project

    @property
    def connection(self) -> Connection:
        """The connection the feature store talks through."""
        return self._connection

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureStore):
            return NotImplemented
        return (self._name, self._project, self._connection) == (
            other._name,
            other._project,
            other._connection,
        )

    def __hash__(self) -> int:
        return hash((self._name, self._project, id(self._connection)))

    def __repr__(self) -> str:
        return f"FeatureStore(name={self._name!r}, project={self._project!r})"
