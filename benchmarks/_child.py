"""Runs one benchmark function in a fresh process and prints its result as one JSON line.

    <venv>/bin/python benchmarks/_child.py MODULE FUNCTION '{"kwarg": ...}'

MODULE is importable from benchmarks/ (``raw``, ``larder_bench``, ``peers.feast_bench``, ...).
The last stdout line is ``BENCH_RESULT {"result": ..., "peak_rss_mb": ..., "python": ...}``;
the runner parses it. ``peak_rss_mb`` is the peak RSS of this whole process (imports included).
Standard library only: it runs in the main venv, the bench venv and the peers' venvs alike.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = "BENCH_RESULT "


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    from common import peak_rss_mb

    module_name, function_name = argv[0], argv[1]
    kwargs = json.loads(argv[2]) if len(argv) == 3 else {}
    t0 = time.perf_counter()
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    t_import = time.perf_counter() - t0
    result = function(**kwargs)
    payload = {
        "result": result,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "import_s": round(t_import, 3),
        "python": platform.python_version(),
        "executable": sys.executable,
    }
    sys.stdout.flush()
    print(MARKER + json.dumps(payload, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
