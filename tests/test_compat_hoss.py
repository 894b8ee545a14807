"""Code written for the Hoss client runs on Larder (issue 18, section 4, first part): the storage
names Hoss users reach for, written the Hoss way against a real server, asserting the results.

Covered: ``ds.glob``, ``ds.iterdir``, text modes of ``ref.open("rt"/"wt", encoding=)`` (an error
inside the block still discards the object), ``write_from``/``read_to``, ``remove()``,
``size_bytes``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import larder
from conftest import LarderServer
from larder import errors


@pytest.fixture(scope="module")
def ds(platform: LarderServer):
    project = f"hoss_{uuid.uuid4().hex[:6]}"
    assert platform.api("POST", "/projects", platform.admin_key, json={"name": project}).status_code == 201
    conn = larder.connect(
        f"{platform.url}/{project}", api_key_value=platform.admin_key, trust_store_path=platform.ca
    )
    dataset = conn.get_namespace("default").create_dataset(f"hoss-{uuid.uuid4().hex[:6]}")
    yield dataset
    dataset.delete()
    conn.close()


def test_text_modes_with_an_encoding(ds) -> None:
    ref = ds / "notes" / "café.txt"
    with ref.open("wt", encoding="latin-1") as f:
        f.write("crème brûlée\nsecond line\n")
    assert ref.read_bytes() == "crème brûlée\nsecond line\n".encode("latin-1")
    with ref.open("rt", encoding="latin-1") as f:
        assert f.readline() == "crème brûlée\n" and f.read() == "second line\n"
    with ref.open("r") as f, pytest.raises(UnicodeDecodeError):  # the default is UTF-8
        f.read()
    with (ds / "notes" / "utf8.txt").open("w") as f:
        f.write("naïve")
    assert (ds / "notes" / "utf8.txt").read_text() == "naïve"
    # an error inside the block discards the object, in text mode as in binary mode
    broken = ds / "notes" / "broken.txt"
    with pytest.raises(RuntimeError), broken.open("wt") as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert not broken.exists()
    with pytest.raises(errors.InvalidArgumentError, match="'rw'"):
        ref.open("rw")
    with pytest.raises(errors.InvalidArgumentError, match="text modes"):
        ref.open("rb", encoding="utf-8")


def test_glob_iterdir_size_remove_and_local_files(ds, tmp_path: Path) -> None:
    for key in ("2024/day1.csv", "2024/day2.csv", "2024/notes.txt", "readme.txt"):
        (ds / key).write_text("a,b\n1,2\n")
    assert sorted(p.key for p in ds.glob("2024/*.csv")) == ["2024/day1.csv", "2024/day2.csv"]
    assert {p.name for p in ds.iterdir()} >= {"2024", "readme.txt"}
    assert (ds / "readme.txt").size_bytes == len(b"a,b\n1,2\n") == (ds / "readme.txt").size
    local = tmp_path / "big.bin"
    local.write_bytes(b"\x00\x01" * 1000)
    assert (ds / "raw" / "big.bin").write_from(local, metadata={"kind": "blob"}).size_bytes == 2000
    assert (ds / "raw" / "big.bin").metadata == {"kind": "blob"}
    back = (ds / "raw" / "big.bin").read_to(tmp_path / "back.bin")
    assert back.read_bytes() == local.read_bytes()
    (ds / "readme.txt").remove()
    assert not (ds / "readme.txt").exists()
    with pytest.raises(errors.NotFoundError):
        (ds / "readme.txt").remove()
    (ds / "readme.txt").remove(missing_ok=True)
