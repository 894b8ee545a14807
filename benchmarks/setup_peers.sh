#!/usr/bin/env bash
# Creates the benchmark virtualenvs, each isolated from the main .venv and from each other:
#
#   benchmarks/.venv-bench   the runner: data generation, raw-library limits, matplotlib
#   benchmarks/.venv-feast   Feast (duckdb + default dask offline stores, SQLite online store)
#   benchmarks/.venv-mlflow  MLflow
#
# Idempotent and fast when done: a venv is (re)installed only when its requirements file changed
# (a stamp named after the file's sha1 lives inside the venv). Needs network to PyPI only.
#
# Usage: benchmarks/setup_peers.sh [bench|feast|mlflow ...]   (default: all three)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

setup_venv() {
    local name="$1"
    local venv="$here/.venv-$name"
    local req="$here/requirements/$name.txt"
    local stamp
    stamp="$venv/.stamp-$(sha1sum "$req" | cut -c1-12)"
    if [[ -f "$stamp" ]]; then
        return 0
    fi
    echo "setup_peers: installing $venv from ${req#"$here"/}" >&2
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req"
    "$venv/bin/python" -m pip freeze --disable-pip-version-check >"$venv/freeze.txt"
    rm -f "$venv"/.stamp-* && touch "$stamp"
}

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(bench feast mlflow)
fi
for t in "${targets[@]}"; do
    case "$t" in
    bench | feast | mlflow) setup_venv "$t" ;;
    *)
        echo "setup_peers: unknown venv '$t' (expected bench, feast or mlflow)" >&2
        exit 2
        ;;
    esac
done
