"""The runnable example of sync between linked servers (issue 21): examples/linked_servers.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "examples" / "linked_servers.py"


def test_the_linked_servers_example_runs(tmp_path):
    """The founding document's example: two servers started by the script (onprem runs the auth
    service, cloud is linked to it), their ``default`` namespaces linked 2-way; a file written on
    onprem, then ``analyse(url)`` run against each URL reads the same bytes (the script asserts
    it and prints the SHA-256); a summary written in the cloud is read back on onprem. The script
    stops its servers and removes their homes (under ``TMPDIR``, here ``tmp_path``)."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    for var in ("LARDER_API_KEY", "LARDER_TRUST_STORE", "LARDER_PROJECT", "LARDER_URL", "LARDER_HOME"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    same = re.search(r"^same bytes on both servers: sha256 ([0-9a-f]{64})$", out.stdout, re.M)
    assert same, out.stdout
    per_server = re.findall(r"^   https://\S+: 5,000 rows, .* sha256 ([0-9a-f]{64})$", out.stdout, re.M)
    assert per_server == [same.group(1)] * 2, out.stdout
    assert "onprem reads results/summary.json" in out.stdout
    homes = [p.name for p in tmp_path.iterdir() if p.name.startswith("larder-linked-")]
    assert homes == [], "the example left its servers' homes behind"
