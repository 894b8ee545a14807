"""What code written for hsfs/hsml expects and Larder does differently, in one place: the version
taken when none is given, and the ``write_options`` keys of hsfs's ``insert()``.

See ``docs/migrating.md`` for the whole table.
"""

from __future__ import annotations

import warnings

HSFS_WRITE_OPTIONS: dict[str, str] = {
    "wait_for_job": "Larder's insert is synchronous: it returns after the commit, so it always waits",
    "start_offline_materialization": "there is no materialization job: the insert writes the offline Delta table itself",
    "wait_for_online_ingestion": "online rows are visible when insert() returns",
    "internal_kafka": "Larder writes without Kafka",
    "kafka_producer_config": "Larder writes without Kafka",
    "spark": "no Hopsworks job is run for an insert (its Spark job configuration has nothing to configure)",
}
"""hsfs ``insert(write_options=...)`` keys accepted as documented no-ops: key -> why nothing changes.
Any other key that is not Larder's own is refused (it could change what is written)."""


def warn_unpinned(what: str, name: str, newest: int) -> None:
    """Say that version 1 of ``name`` was taken (as hsfs/hsml do) although version ``newest``
    exists, pointed at the caller's line (a :class:`~larder.errors.VersionNotPinnedWarning`).

    Args:
        what (str): ``"feature group"``, ``"feature view"`` or ``"model"``.
        name (str): its name.
        newest (int): its newest version.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     warn_unpinned("model", "fraud", 3)
        >>> w[0].category.__name__
        'VersionNotPinnedWarning'
    """
    from larder._time import user_stacklevel
    from larder.errors import VersionNotPinnedWarning

    warnings.warn(
        f"No version given for {what} '{name}': taking version 1, as hsfs/hsml do, although the newest is "
        f"version {newest}. Pin the version you mean: version=1 (this one) or version={newest}.",
        VersionNotPinnedWarning,
        stacklevel=user_stacklevel(),
    )
