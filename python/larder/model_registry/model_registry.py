"""The handle of one project's model registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from larder.connection import Connection


class ModelRegistry:
    """A project's model registry, as handed out by :meth:`Connection.get_model_registry`.

    It only holds state (its project and connection); creating it makes no REST call.

    Args:
        project (str): the project that owns the registry (the caller's, or a shared project).
        connection (Connection): the connection it talks through.

    Example:
        >>> import larder
        >>> mr = larder.connection().get_model_registry()  # doctest: +SKIP
        >>> mr.project  # doctest: +SKIP
        'default'
    """

    def __init__(self, project: str, connection: Connection) -> None:
        self._project = project
        self._connection = connection

    @property
    def project(self) -> str:
        """The project that owns the registry."""
        return self._project

    @property
    def connection(self) -> Connection:
        """The connection the registry talks through."""
        return self._connection

    @property
    def shared(self) -> bool:
        """True when the registry belongs to another project than the connection's."""
        return self._project != self._connection.project

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelRegistry):
            return NotImplemented
        return (self._project, self._connection) == (other._project, other._connection)

    def __hash__(self) -> int:
        return hash((self._project, id(self._connection)))

    def __repr__(self) -> str:
        return f"ModelRegistry(project={self._project!r})"
