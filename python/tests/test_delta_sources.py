"""``_sources.DeltaSource``: duckdb reads a local Delta table's Parquet files itself only when that
gives exactly the rows and types deltalake's Arrow dataset gives; otherwise it gets Arrow tables.
Real Delta tables (deltalake) and a real duckdb; each case compares both ways."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from larder.engine.python._sources import DeltaSource

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _table(n: int, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "k": pa.array(range(offset, offset + n), pa.int64()),
            "ts": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
            "name": pa.array([f"n{i}" for i in range(offset, offset + n)]),
            "x": pa.array([float(i) for i in range(n)]),
        }
    )


def _via_duckdb(
    dt: DeltaTable, columns: list[str] | None = None, lazy: bool = False
) -> tuple[bool, pa.Table]:
    source = DeltaSource(dt, columns)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        source.register(con, "t", lazy=lazy)
        return source.direct, con.sql("SELECT * FROM t ORDER BY k").to_arrow_table()
    finally:
        con.close()


def _via_arrow(dt: DeltaTable, columns: list[str] | None = None) -> pa.Table:
    return dt.to_pyarrow_dataset().to_table(columns=columns).sort_by("k")


def test_a_plain_local_table_is_read_from_its_files_with_the_same_rows_and_types(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, _table(100))
    write_deltalake(uri, _table(50, offset=100), mode="append")
    dt = DeltaTable(uri)
    direct, got = _via_duckdb(dt)
    assert direct
    assert got.equals(_via_arrow(dt))
    assert got.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    direct, got = _via_duckdb(dt, ["k", "x"])
    assert direct and got.column_names == ["k", "x"] and got.equals(_via_arrow(dt, ["k", "x"]))


def test_only_the_live_files_of_the_loaded_version_are_read(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, _table(10))
    write_deltalake(uri, _table(3, offset=1000), mode="overwrite")
    direct, got = _via_duckdb(DeltaTable(uri))
    assert direct and got["k"].to_pylist() == [1000, 1001, 1002]
    direct, got = _via_duckdb(DeltaTable(uri, version=0))  # time travel
    assert direct and got["k"].to_pylist() == list(range(10))


def test_an_added_column_reads_as_null_in_older_files(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, _table(5))
    wider = _table(5, offset=5).append_column("y", pa.array([1, 2, 3, 4, 5], pa.int64()))
    write_deltalake(uri, wider, mode="append", schema_mode="merge")
    dt = DeltaTable(uri)
    direct, got = _via_duckdb(dt)
    assert direct
    assert got.equals(_via_arrow(dt))
    assert got["y"].to_pylist() == [None] * 5 + [1, 2, 3, 4, 5]


def test_partitioned_tables_and_glob_characters_go_through_arrow(tmp_path):
    uri = str(tmp_path / "p")
    write_deltalake(uri, _table(20), partition_by=["name"])
    dt = DeltaTable(uri)
    direct, got = _via_duckdb(dt)
    assert not direct  # partition values live in the paths, not the files
    assert got.equals(_via_arrow(dt).select(got.column_names))
    assert set(got.column_names) == {"k", "ts", "name", "x"}

    odd = str(tmp_path / "odd*1")  # read_parquet would take it for a glob
    write_deltalake(odd, _table(4))
    direct, got = _via_duckdb(DeltaTable(odd))
    assert not direct and got["k"].to_pylist() == [0, 1, 2, 3]


def test_percent_encoded_paths_are_decoded(tmp_path):
    uri = str(tmp_path / "my data é")  # deltalake lists it as my%20data%20%C3%A9
    write_deltalake(uri, _table(4))
    direct, got = _via_duckdb(DeltaTable(uri))
    assert direct and got["k"].to_pylist() == [0, 1, 2, 3]


@pytest.mark.parametrize("lazy", [False, True])
def test_the_fallback_registers_a_table_or_a_lazy_dataset(tmp_path, lazy):
    uri = str(tmp_path / "p")
    write_deltalake(uri, _table(6), partition_by=["name"])
    direct, got = _via_duckdb(DeltaTable(uri), ["k", "x"], lazy=lazy)
    assert not direct and got["k"].to_pylist() == list(range(6)) and got.column_names == ["k", "x"]
