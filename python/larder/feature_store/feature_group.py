"""Feature groups: versioned tables of features keyed by a primary key (and an event time).

The offline data is a Delta Lake table in the project's feature store dataset, written and read
directly in object storage (``deltalake``); the server's catalog holds the metadata and a record of
every commit. Online-enabled groups also keep the latest row per key in the online store.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from larder.errors import (
    CommitNotRecordedError,
    ConflictError,
    ConnectionFailedError,
    InvalidArgumentError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
)
from larder.feature_store._lease import DEFAULT_WAIT_S, WriteLease
from larder.feature_store.feature import Feature, Filter, Logic
from larder.plan import TableRef

if TYPE_CHECKING:
    from larder.feature_store.feature_store import FeatureStore
    from larder.feature_store.query import Query

log = logging.getLogger("larder.feature_store")

OPERATIONS = ("upsert", "insert")
PROGRESS_ROWS = 1_000_000
WRITE_OPTIONS = {"progress", "lease_wait_seconds", "duplicates"}
DUPLICATES = ("keep_last", "error")  # write_options["duplicates"], the default first
COMMIT_TIMEOUT_S = 600.0  # recording a commit materializes it online: large ones take a while


def _aware(t: Any, what: str) -> datetime | None:
    """A time argument as a UTC ``datetime`` (see :mod:`larder._time`: datetimes, dates, strings,
    epoch milliseconds; naive values are taken as UTC with a warning)."""
    from larder._time import to_utc

    return to_utc(t, what)


class FeatureGroup:
    """A versioned feature group. Get one from :meth:`FeatureStore.create_feature_group` or
    :meth:`FeatureStore.get_feature_group`.

    Features are attributes and items: ``fg.temp`` / ``fg["temp"]`` give a :class:`Feature` that
    builds filters (``fg.temp > 10``).

    Attributes:
        name (str): the feature group's name.
        version (int): the version, from 1.
        description (str): what it holds.
        primary_key (list[str]): the key columns.
        event_time (str | None): the event time column (timestamps, stored as UTC).
        partition_key (list[str]): Delta partition columns.
        online_enabled (bool): whether the latest row per key is kept in the online store.
        statistics_enabled (bool): whether statistics are computed at each commit.
        features (list[Feature]): the schema (empty until the first insert).

    Example:
        >>> weather = fs.create_feature_group("weather", primary_key=["origin"], event_time="time_hour")  # doctest: +SKIP
        >>> weather.insert(weather_df)  # doctest: +SKIP
        >>> weather.filter(weather.temp > 10).read()  # doctest: +SKIP
    """

    def __init__(self, feature_store: FeatureStore, info: dict[str, Any]) -> None:
        self._fs = feature_store
        self._load(info)

    def _load(self, info: dict[str, Any]) -> None:
        self._id: int = info["id"]
        self.name: str = info["name"]
        self.version: int = info["version"]
        self.description: str = info.get("description", "")
        self.primary_key: list[str] = list(info["primary_key"])
        self.event_time: str | None = info.get("event_time")
        self.partition_key: list[str] = list(info.get("partition_key") or [])
        self.online_enabled: bool = bool(info.get("online_enabled"))
        self.statistics_enabled: bool = bool(info.get("statistics_enabled", True))
        self._schema: list[dict[str, str]] | None = info.get("features")
        self._location: dict[str, str] = info["location"]
        self.created_at = info.get("created_at")

    def __repr__(self) -> str:
        return f"FeatureGroup({self.name!r}, version={self.version}, primary_key={self.primary_key})"

    @property
    def _path(self) -> str:
        return f"/projects/{self._fs.project}/featuregroups/{self.name}/{self.version}"

    @property
    def id(self) -> int:
        """The feature group version's id in the platform's catalog (as hsfs's ``fg.id``)."""
        return self._id

    @property
    def schema(self) -> list[Feature]:
        """The features, in schema order (hsfs's name for :attr:`features`; empty before the first
        insert)."""
        return self.features

    @property
    def statistics(self) -> dict[str, Any] | None:
        """The statistics of the newest commit that has them (see :meth:`get_statistics`), or None
        (hsfs's ``fg.statistics``)."""
        try:
            return self.get_statistics()
        except NotFoundError:
            return None

    def update_description(self, description: str) -> FeatureGroup:
        """Change this version's description (as hsfs's ``fg.update_description``).

        Args:
            description (str): the new description, at most 2000 characters.

        Returns:
            FeatureGroup: this feature group, updated.

        Raises:
            InvalidArgumentError: on a description that is not a string or is too long.
            PermissionDeniedError: when you may not change this feature store.

        Example:
            >>> weather.update_description("hourly weather at the three NYC airports")  # doctest: +SKIP
        """
        if not isinstance(description, str):
            raise InvalidArgumentError(
                f"description must be a string, not {type(description).__name__}.",
                details={"type": type(description).__name__},
            )
        self._load(self._fs._rest.patch(self._path, {"description": description}))
        return self

    def update_feature_description(self, feature_name: str, description: str) -> FeatureGroup:
        """Describe one feature (as hsfs's ``fg.update_feature_description``); read it back as
        ``fg.get_feature(name).description``. The web UI's feature group page shows it.

        Args:
            feature_name (str): the feature (column) name.
            description (str): what it holds, at most 2000 characters; ``""`` clears it.

        Returns:
            FeatureGroup: this feature group, updated.

        Raises:
            InvalidArgumentError: an unknown feature (the message lists the features), a feature
                group without a schema yet (describe its features after the first insert), or a
                description that is not a string or is too long.
            PermissionDeniedError: when you may not change this feature store.

        Example:
            >>> weather.update_feature_description("temp", "air temperature at 2 m, degrees F")  # doctest: +SKIP
            >>> weather.get_feature("temp").description  # doctest: +SKIP
            'air temperature at 2 m, degrees F'
        """
        if not isinstance(description, str):
            raise InvalidArgumentError(
                f"The description of {feature_name!r} must be a string, not {type(description).__name__}.",
                details={"feature": str(feature_name), "type": type(description).__name__},
            )
        if self._schema is None:
            self._refresh()  # another writer may have made the first insert
        self.get_feature(feature_name)  # an unknown name: the message lists the features
        self._load(self._fs._rest.patch(self._path, {"feature_descriptions": {feature_name: description}}))
        return self

    @property
    def features(self) -> list[Feature]:
        """The features, in schema order (empty before the first insert)."""
        return [
            Feature(
                f["name"],
                f["type"],
                f["name"] in self.primary_key,
                f["name"] == self.event_time,
                self,
                f.get("description") or "",
            )
            for f in (self._schema or [])
        ]

    def get_feature(self, name: str) -> Feature:
        """A feature by name (also ``fg[name]`` and ``fg.<name>``).

        Args:
            name (str): the feature (column) name.

        Returns:
            Feature: the feature, which builds filters.

        Raises:
            InvalidArgumentError: when the feature group has no such feature (the message lists them).

        Example:
            >>> weather.get_feature("temp")  # doctest: +SKIP
            Feature('temp', 'double')
        """
        for f in self.features:
            if f.name == name:
                return f
        known = [f.name for f in self.features]
        raise InvalidArgumentError(
            f"Feature group '{self.name}' v{self.version} has no feature {name!r}; it has {known or 'no schema yet'}.",
            details={"feature": name, "features": known},
        )

    def __getitem__(self, name: str) -> Feature:
        return self.get_feature(name)

    def __getattr__(self, name: str) -> Feature:
        if name.startswith("_"):
            raise AttributeError(name)
        schema = self.__dict__.get("_schema") or []
        if any(f["name"] == name for f in schema):
            return self.get_feature(name)
        raise AttributeError(f"'FeatureGroup' object has no attribute or feature {name!r}")

    # --- storage ----------------------------------------------------------------------------------

    def _table(self) -> tuple[str, dict[str, str] | None]:
        """(uri, storage_options) of the Delta table."""
        ds = self._fs._dataset()
        opts = ds.storage_options()
        return f"{ds.uri}/{self._location['path']}", (opts or None)

    def _ref(self, with_location: bool = True) -> TableRef:
        """The group's table as engines reach it (``larder.plan.TableRef``); ``with_location``
        fetches its location and vended credentials (without: ``uri`` is empty)."""
        uri, opts = self._table() if with_location else ("", None)
        return TableRef(
            name=self.name,
            version=self.version,
            uri=uri,
            storage_options=opts,
            primary_key=tuple(self.primary_key),
            event_time=self.event_time,
            partition_key=tuple(self.partition_key),
        )

    # --- writing ----------------------------------------------------------------------------------

    def insert(
        self,
        features: Any,
        overwrite: bool = False,
        operation: str = "upsert",
        storage: str | None = None,
        write_options: dict[str, Any] | None = None,
        validation_options: dict[str, Any] | None = None,
        save_code: bool = True,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Write rows to the feature group.

        ``upsert`` (default) replaces rows with the same primary key (and event time, when the group
        has one) and adds the others; ``insert`` appends. The schema is inferred on the first insert
        and enforced afterwards. Every check runs before anything is written; a failed write leaves
        the table at its previous version. Online-enabled groups are visible online when this
        returns.

        Args:
            features: a pandas or polars DataFrame, a pyarrow Table, or a list of dicts. Timestamps
                are stored as UTC; naive ones are taken as UTC (as hsfs does) with a
                :class:`~larder.errors.NaiveTimeWarning`.
            overwrite (bool): replace the whole table (default False).
            operation (str): ``"upsert"`` (default) or ``"insert"``.
            storage (str | None): hsfs's choice of one store; only None (both: the offline table,
                and the online store of online-enabled groups) is supported.
            write_options (dict | None): ``{"progress": bool}`` (a progress bar; default on from 1M
                rows), ``{"lease_wait_seconds": float}`` (how long to wait while another writer
                writes this group; default 600), ``{"duplicates": "keep_last" | "error"}`` (rows
                of this insert that repeat a primary key and event time: ``"keep_last"``, the
                default, keeps the last of each in the frame's row order and drops the others,
                as hsfs's upsert, with a :class:`~larder.errors.DuplicateKeysWarning`;
                ``"error"`` refuses the insert). hsfs's keys are accepted and change nothing:
                ``wait_for_job`` (the insert is synchronous), ``start_offline_materialization``
                (no materialization job: the offline table is written directly),
                ``wait_for_online_ingestion``, ``internal_kafka``, ``kafka_producer_config``
                (no Kafka) and ``spark`` (no job to configure). Other keys are refused.
            validation_options (dict | None): hsfs's data validation options, accepted and
                ignored: Larder feature groups have no expectation suite, so hsfs would not
                validate either.
            save_code (bool): accepted for hsfs compatibility (nothing is saved).
            wait (bool): accepted for hsfs compatibility; writes are always synchronous.

        Returns:
            dict: the commit: ``delta_version``, ``operation``, ``rows_inserted``, ``rows_updated``,
            and ``duplicates_dropped`` (rows dropped as repeats of a later row's key; 0 when none).

        Raises:
            InvalidArgumentError: empty data, missing key/event-time columns, nulls in the primary
                key, duplicate keys within the insert (``write_options={"duplicates": "error"}``),
                an unknown ``duplicates`` choice, a column of mixed types (or of mixed
                aware and naive timestamps), a type that differs from the schema, an unknown
                operation or ``write_options`` key, a ``storage`` other than None.
            ConflictError: another writer held the group for longer than ``lease_wait_seconds``,
                or a tool writing its Delta table without Larder kept conflicting; nothing was
                written.
            CommitNotRecordedError: the rows were committed to the Delta table but the platform
                did not confirm recording it (``details["delta_version"]``); the platform
                registers it from the Delta log on its own.

        Writers of one group take turns: each holds the group's write lease while it commits (see
        :mod:`larder.feature_store._lease`), so concurrent inserts of any number of processes
        all succeed.

        Example:
            >>> fg.insert(weather_df)  # doctest: +SKIP
            {'delta_version': 0, 'operation': 'upsert', 'rows_inserted': 26115, 'rows_updated': 0, 'duplicates_dropped': 0}
            >>> fg.insert(weather_df, write_options={"duplicates": "error"})  # refuse repeated keys  # doctest: +SKIP
        """
        if operation not in OPERATIONS:
            raise InvalidArgumentError(
                f"Unknown operation {operation!r}; use 'upsert' or 'insert'.",
                details={"operation": operation},
            )
        engine = self._fs._engine("insert")
        options = _write_options(write_options, storage)
        # the checks first; then statistics run beside the write (see the engine's statistics())
        prepared = engine.prepare_insert(
            features,
            self.primary_key,
            self.event_time,
            self._schema,
            self.partition_key,
            options.get("duplicates", "keep_last"),
        )
        if prepared.dropped:
            _warn_duplicates(prepared.dropped, prepared.dropped_example, self._upsert_key)
        progress = options.get("progress", prepared.num_rows >= PROGRESS_ROWS)
        bar = _Steps(progress, f"insert {self.name} v{self.version}", prepared.num_rows)
        stats = None
        done = False
        try:
            if self.statistics_enabled:
                stats = engine.statistics(prepared)
            if self._schema is None:
                info = self._fs._rest.put(f"{self._path}/schema", {"features": prepared.schema})
                self._load(info)
            bar.step("validated")
            write_id = secrets.token_hex(16)
            wait_s = float(options.get("lease_wait_seconds", DEFAULT_WAIT_S))
            ref = self._ref()
            with WriteLease(self._fs._rest, self._path, self._what, wait_s) as lease:
                delta_version = engine.write(ref, prepared, overwrite, operation, write_id)
                bar.step("written")
                statistics = stats.result() if stats is not None else None
                lease.stop_renewing()
                commit = self._record(delta_version, write_id, lease.body(), statistics)
            bar.step("committed")
            done = True
        finally:
            if stats is not None:  # never leave the statistics running into interpreter exit
                if not done:  # the insert failed: its statistics are of no use (stops them if it can)
                    stats.cancel()
                if not stats.cancelled():
                    stats.exception()
            bar.close()
        out = {k: commit[k] for k in ("delta_version", "operation", "rows_inserted", "rows_updated")}
        out["duplicates_dropped"] = prepared.dropped
        return out

    @property
    def _upsert_key(self) -> list[str]:
        return self.primary_key + ([self.event_time] if self.event_time else [])

    @property
    def _what(self) -> str:
        return f"feature group '{self.name}' v{self.version}"

    def _record(
        self, delta_version: int, write_id: str, lease: dict[str, Any], statistics: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Record a Delta commit on the platform (which makes it visible online and releases the lease)."""
        body = {"delta_version": delta_version, "write_id": write_id, **lease, "statistics": statistics}
        try:
            return dict(self._fs._rest.post(f"{self._path}/commits", body, timeout=COMMIT_TIMEOUT_S))
        except (ConnectionFailedError, ServerError, ServiceUnavailableError) as e:
            raise CommitNotRecordedError(
                f"The rows were committed to {self._what} as Delta version {delta_version}, but the platform did not "
                f"confirm recording the commit ({e.message}). Nothing is lost: the platform registers commits it "
                "missed from the Delta log on its own (when it is back, within seconds), and fg.commit_details() "
                "then lists it. Inserting the rows again would append them twice (an upsert replaces them).",
                details={"delta_version": delta_version, "committed": True},
            ) from None

    # --- reading ----------------------------------------------------------------------------------

    def _frame(self, wallclock_time: datetime | str | None = None) -> Any:
        """Every row (as of a time) as the engine's frame."""
        return self._fs._engine("read").read(self._ref(), _aware(wallclock_time, "wallclock_time"))

    def read(
        self,
        wallclock_time: datetime | str | None = None,
        online: bool = False,
        dataframe_type: str = "default",
    ) -> Any:
        """All rows (offline), or the latest row per key (``online=True``).

        Args:
            wallclock_time (datetime | date | str | int | None): time travel: the table as it was
                then: a datetime, a date, a string (ISO 8601, ``"%Y-%m-%d"``, ``"%Y-%m-%d %H:%M:%S"``)
                or epoch milliseconds; naive values are UTC (see :mod:`larder._time`). Default None: now.
            online (bool): read the online store instead (online-enabled groups only).
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``
                or ``"python"`` (a list of rows, each a list of values in column order).

        Returns:
            Any: the rows in the requested type.

        Raises:
            NotFoundError: before the first insert, or when nothing existed at ``wallclock_time``.
            ConflictError: ``online=True`` on a group that is not online-enabled.

        Example:
            >>> df = fg.read()  # doctest: +SKIP
            >>> old = fg.read(wallclock_time=datetime(2024, 1, 1, tzinfo=timezone.utc))  # doctest: +SKIP
        """
        engine = self._fs._engine("read")
        engine.check_dataframe_type(dataframe_type)
        frame = self._read_online_all() if online else self._frame(wallclock_time)
        return engine.to_dataframe(frame, dataframe_type)

    def _read_online_all(self) -> Any:
        if not self.online_enabled:
            raise ConflictError(f"Feature group '{self.name}' v{self.version} is not online-enabled.")
        engine = self._fs._engine("read")
        offline = self._frame()
        key_lists = engine.distinct_keys(offline, self.primary_key)
        rows: list[dict[str, Any]] = []
        for i in range(0, len(key_lists), 5000):
            got = self._fs._rest.post(f"{self._path}/online", {"keys": _jsonable(key_lists[i : i + 5000])})
            rows.extend(r for r in got["rows"] if r is not None)
        return engine.from_rows(rows, offline)

    def show(self, n: int = 10, online: bool = False) -> Any:
        """The first rows as a pandas DataFrame (printed nicely in notebooks).

        Args:
            n (int): how many rows (default 10).
            online (bool): read the online store instead (online-enabled groups only).

        Returns:
            pandas.DataFrame: at most ``n`` rows.

        Example:
            >>> weather.show(5)  # doctest: +SKIP
        """
        if online:
            return self.read(online=True).head(n)
        engine = self._fs._engine("read")
        return engine.to_dataframe(engine.head(self._frame(), n), "pandas")

    def as_of(self, wallclock_time: datetime | str) -> Query:
        """A query of every feature as the table was at a past time (time travel).

        Args:
            wallclock_time (datetime | date | str | int): the time, in any form :meth:`read` takes.

        Returns:
            Query: ``select_all()`` as of that time.

        Example:
            >>> weather.as_of(datetime(2024, 1, 1, tzinfo=timezone.utc)).read()  # doctest: +SKIP
        """
        return self.select_all().as_of(wallclock_time)

    def read_changes(
        self,
        start_wallclock_time: datetime | str,
        end_wallclock_time: datetime | str,
        dataframe_type: str = "default",
    ) -> Any:
        """Rows inserted or updated by the commits made in ``(start, end]``, from the Delta change feed.

        Args:
            start_wallclock_time (datetime | date | str | int): the start, exclusive (any form
                :meth:`read` takes; naive values are UTC).
            end_wallclock_time (datetime | date | str | int): the end, inclusive.
            dataframe_type (str): ``"default"`` (the engine's own: pandas on python, a Spark DataFrame on spark), ``"pandas"``, ``"polars"``, ``"pyarrow"``, ``"numpy"``
                or ``"python"``.

        Returns:
            Any: the rows written by those commits (empty when there was none).

        Raises:
            InvalidArgumentError: when the end is not after the start, or a time cannot be read.
            NotFoundError: before the first insert.

        Example:
            >>> weather.read_changes(yesterday, datetime.now(timezone.utc))  # doctest: +SKIP
        """
        start = _aware(start_wallclock_time, "start_wallclock_time")
        end = _aware(end_wallclock_time, "end_wallclock_time")
        assert start is not None and end is not None
        if end <= start:
            raise InvalidArgumentError("end_wallclock_time must be after start_wallclock_time.")
        engine = self._fs._engine("read")
        engine.check_dataframe_type(dataframe_type)
        return engine.to_dataframe(engine.read_changes(self._ref(), start, end), dataframe_type)

    def commit_details(self, limit: int | None = None) -> dict[int, dict[str, Any]]:
        """The commits of this version, newest first.

        Args:
            limit (int | None): at most this many (default: all).

        Returns:
            dict[int, dict]: ``{delta_version: {"committed_at", "operation", "rows_inserted",
            "rows_updated", "rows_deleted"}}``.

        Example:
            >>> weather.commit_details(limit=1)  # doctest: +SKIP
            {2: {'operation': 'upsert', 'rows_inserted': 1, 'rows_updated': 0, ...}}
        """
        commits = self._fs._rest.get(f"{self._path}/commits")
        out = {}
        for c in sorted(commits, key=lambda c: -c["delta_version"])[:limit]:
            out[c["delta_version"]] = {k: v for k, v in c.items() if k not in ("delta_version", "statistics")}
        return out

    def get_statistics(self, delta_version: int | None = None) -> dict[str, Any]:
        """The statistics computed for a commit: per column its count, nulls, approximate distinct
        values, min and max, and for numbers the mean, standard deviation and a 10-bin histogram.

        Args:
            delta_version (int | None): the commit's Delta version; default None: the newest commit
                that has statistics.

        Returns:
            dict: ``{"delta_version", "row_count", "columns": {name: {...}}}``.

        Raises:
            NotFoundError: when there is no such commit, or statistics were disabled for it.

        Example:
            >>> weather.get_statistics()["columns"]["temp"]["mean"]  # doctest: +SKIP
            4.33
        """
        commits = self._fs._rest.get(f"{self._path}/commits")
        if delta_version is not None:
            commits = [c for c in commits if c["delta_version"] == delta_version]
        commits = [c for c in commits if c.get("statistics")]
        if not commits:
            raise NotFoundError(
                f"No statistics for feature group '{self.name}' v{self.version}"
                + (f" commit {delta_version}" if delta_version is not None else "")
                + ".",
            )
        latest = max(commits, key=lambda c: c["delta_version"])
        return {"delta_version": latest["delta_version"], **latest["statistics"]}

    # --- queries ----------------------------------------------------------------------------------

    def select_all(self, include_primary_key: bool = True, include_event_time: bool = True) -> Query:
        """A query of every feature.

        Args:
            include_primary_key (bool): select the primary key columns too (default True; hsfs's
                argument). Joins on them work either way.
            include_event_time (bool): select the event time column too (default True).

        Returns:
            Query: a query to join, filter or read.

        Example:
            >>> flights.select_all().join(weather.select(["temp"]), on=["origin"])  # doctest: +SKIP
            >>> weather.select_all(include_primary_key=False, include_event_time=False)  # doctest: +SKIP
        """
        from larder.feature_store.query import Query

        if include_primary_key and include_event_time:
            return Query(self, None)
        drop = set() if include_primary_key else set(self.primary_key)
        if not include_event_time and self.event_time:
            drop.add(self.event_time)
        return self.select_except(sorted(drop)) if drop else Query(self, None)

    def select_features(self) -> Query:
        """A query of every feature that is neither primary key nor event time (hsfs's
        ``select_features()``; ``select_all(include_primary_key=False, include_event_time=False)``).

        Returns:
            Query: a query to join, filter or read.

        Raises:
            InvalidArgumentError: when the group has no other feature.

        Example:
            >>> weather.select_features().read()  # doctest: +SKIP
        """
        return self.select_all(include_primary_key=False, include_event_time=False)

    def select(self, features: list[str | Feature] | str | Feature) -> Query:
        """A query of some features. Joined to another query, the features named here all come
        back, this group's event time too (prefixed by the join's ``prefix``).

        Args:
            features (list[str | Feature] | str | Feature): feature names or :class:`Feature`
                objects; a bare string or Feature is one feature.

        Returns:
            Query: a query to join, filter or read.

        Raises:
            InvalidArgumentError: on an unknown feature name, or an empty selection.

        Example:
            >>> weather.select(["temp", "wind_speed"]).read()  # doctest: +SKIP
        """
        from larder.feature_store.query import Query

        names = _feature_names(features)
        for n in names:
            self.get_feature(n)
        if not names:
            raise InvalidArgumentError(
                f"select([]) selects no feature of {self._what}; name at least one (it has "
                f"{[f.name for f in self.features]}), or use select_all().",
                details={"feature_group": self.name},
            )
        return Query(self, names, named=True)

    def select_except(self, features: list[str | Feature] | str | Feature) -> Query:
        """A query of every feature except some.

        Args:
            features (list[str | Feature] | str | Feature): the features to leave out (names or
                :class:`Feature`); a bare string or Feature is one feature (as in hsfs).

        Returns:
            Query: a query to join, filter or read.

        Raises:
            InvalidArgumentError: on an unknown feature name, or when no feature would be left.

        Example:
            >>> weather.select_except(["origin", "time_hour"])  # doctest: +SKIP
        """
        from larder.feature_store.query import Query

        drop = set(_feature_names(features))
        for n in drop:
            self.get_feature(n)
        kept = [f.name for f in self.features if f.name not in drop]
        if not kept:
            raise InvalidArgumentError(
                f"select_except({sorted(drop)}) leaves no feature of {self._what}: a query needs at "
                "least one column. Leave at least one feature out of the list, or select what you need "
                "with select([...]).",
                details={"feature_group": self.name, "excluded": sorted(drop)},
            )
        return Query(self, kept)

    def filter(self, condition: Filter | Logic) -> Query:
        """A query of every feature, keeping the rows that match a condition.

        Args:
            condition (Filter | Logic): e.g. ``fg.temp > 10`` or ``(fg.temp > 10) & (fg.origin == "JFK")``.

        Returns:
            Query: ``select_all().filter(condition)``.

        Example:
            >>> weather.filter((weather.temp > 10) & weather.origin.isin(["JFK", "LGA"])).read()  # doctest: +SKIP
        """
        return self.select_all().filter(condition)

    def delete(self) -> None:
        """Delete this version: its catalog entry, its Delta table and its online rows.

        Example:
            >>> fs.get_feature_group("weather", version=2).delete()  # doctest: +SKIP
        """
        self._fs._rest.delete(self._path)

    def _refresh(self) -> None:
        info = self._fs._rest.get(
            f"/projects/{self._fs.project}/featuregroups/{self.name}", params={"version": self.version}
        )
        self._load(info)


def _write_options(write_options: dict[str, Any] | None, storage: str | None) -> dict[str, Any]:
    """Larder's own ``write_options``; hsfs's keys are dropped (documented no-ops, see
    :data:`larder._compat.HSFS_WRITE_OPTIONS`); anything that would change the result is refused."""
    from larder._compat import HSFS_WRITE_OPTIONS

    if storage is not None:
        raise InvalidArgumentError(
            f"insert(storage={storage!r}) would write one store only; Larder writes the offline table and, for "
            "online-enabled groups, the online store together, so that they agree. Leave storage=None.",
            details={"storage": str(storage)},
        )
    if write_options is not None and not isinstance(write_options, dict):
        raise InvalidArgumentError(
            f"write_options must be a dict, not {type(write_options).__name__}.",
            details={"type": type(write_options).__name__},
        )
    options = dict(write_options or {})
    for key in set(options) & set(HSFS_WRITE_OPTIONS):
        log.debug("write_options[%r] has no effect: %s", key, HSFS_WRITE_OPTIONS[key])
        del options[key]
    unknown = sorted(set(options) - WRITE_OPTIONS)
    if unknown:
        raise InvalidArgumentError(
            f"Unknown write_options {unknown}: they could change what is written, so they are refused. Larder's "
            f"own: {sorted(WRITE_OPTIONS)}; hsfs's accepted as no-ops: {sorted(HSFS_WRITE_OPTIONS)}.",
            details={"unknown": unknown},
        )
    if options.get("duplicates", DUPLICATES[0]) not in DUPLICATES:
        raise InvalidArgumentError(
            f"write_options['duplicates'] = {options['duplicates']!r} is not a choice: use 'keep_last' (keep the "
            "last row of each primary key and event time, as hsfs's upsert; the default) or 'error' (refuse an "
            "insert that repeats one).",
            details={"duplicates": repr(options["duplicates"])[:100], "choices": list(DUPLICATES)},
        )
    return options


def _warn_duplicates(dropped: int, example: dict[str, str] | None, keys: list[str]) -> None:
    """Say at the user's line that ``dropped`` rows repeating a key were dropped (a
    :class:`~larder.errors.DuplicateKeysWarning`)."""
    import warnings

    from larder._time import user_stacklevel
    from larder.errors import DuplicateKeysWarning

    warnings.warn(
        f"{dropped} row(s) of this insert repeat the ({', '.join(keys)}) of a later row"
        + (f", e.g. {example}" if example else "")
        + ": the last row of each key was kept and the others dropped (as hsfs's upsert keeps one row per key). "
        "Pass write_options={'duplicates': 'error'} to refuse such an insert instead.",
        DuplicateKeysWarning,
        stacklevel=user_stacklevel(),
    )


def _feature_names(features: Any) -> list[str]:
    """Names from a list of names/Features, or from one bare name or Feature (hsfs accepts both)."""
    if isinstance(features, str | Feature):
        features = [features]
    return [f.name if isinstance(f, Feature) else f for f in features]


def _jsonable(values: Any) -> Any:
    return json.loads(
        json.dumps(values, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    )


class _Steps:
    """A small tqdm bar over the steps of a long insert (rows as the unit)."""

    def __init__(self, enabled: bool, desc: str, rows: int) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=3, desc=desc, unit="step", postfix={"rows": rows})

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
