"""schemathesis over the whole OpenAPI document, every check, on SQLite and on PostgreSQL: no
5xx, nothing the document does not declare, schema-valid requests accepted and schema-invalid ones
refused (tests/schemathesis.toml lists the operations whose rules JSON Schema cannot say)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import LARDER, LarderServer, _new_pg_database

CONFIG = Path(__file__).parent.parent / "schemathesis.toml"
EXAMPLES = 12  # per operation and phase: ~5,000 cases over the 73 operations, about a minute


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A server of its own: the fuzzer creates and deletes users, projects and object stores."""
    db = None if request.param == "sqlite" else _new_pg_database(request.getfixturevalue("pg_url"))
    server = LarderServer(tmp_path_factory.mktemp(f"fuzz-{request.param}") / "home", database_url=db).init()
    server.start()
    yield server
    server.stop()


def test_schemathesis_every_check_no_failure(fuzz_server: LarderServer, tmp_path: Path):
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(fuzz_server.api("GET", "/openapi.json", fuzz_server.admin_key).json()))
    cmd = [
        str(LARDER).replace("/larder", "/schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        str(spec),
        "--url",
        fuzz_server.url,
        "--header",
        f"Authorization: ApiKey {fuzz_server.admin_key}",
        "--tls-verify",
        fuzz_server.ca,
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--seed",
        "17",
        "--suppress-health-check",
        "all",
        "--continue-on-failure",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]
    assert re.search(r"\d+ generated", out.stdout), out.stdout[-2000:]
    assert not re.search(r" 5\d\d \d+\.\dms", fuzz_server.log()), "the server answered 5xx"
