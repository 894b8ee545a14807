# Larder: `make demo` runs the main job on the embedded platform, `make test` runs every check.
# Each target installs what it needs into .venv (idempotent: a stamp per pyproject.toml content).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed-$(shell cat python/pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test bench docs lint typecheck unit e2e install sysdeps clean java-install java-test java-bench

# System packages the tests use as real services: redis-server (Debian). Java's keytool ships with the JDK.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
sysdeps:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(STAMP): $(PY) python/pyproject.toml
	$(PIP) install -e 'python[dev,demo]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	LARDER_HOME=$${LARDER_HOME:-$(CURDIR)/.larder-demo} $(PY) examples/flights_demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check python tests benchmarks examples
	$(VENV)/bin/ruff format --check python tests benchmarks examples

typecheck: $(STAMP)
	cd python && ../$(VENV)/bin/mypy

test: lint typecheck sysdeps docs java-test
	$(VENV)/bin/pytest -q python/tests tests

# The JVM connector (java/: larder-java, larder-spark_2.13) with Maven. The first run downloads its
# dependencies from Maven Central into ~/.m2; later runs work offline. Its JUnit and ScalaTest suites
# start their own live platform (tests/jvm_platform.py with this .venv's Python: larder servers,
# moto_server, data written by the Python client), and also compile and run examples/scala.
MVN := mvn -B -ntp
java-install:
	$(MVN) -q -f java/pom.xml install -DskipTests

java-test: $(STAMP)
	LARDER_PYTHON=$(CURDIR)/$(PY) $(MVN) -f java/pom.xml install

# Connect time and online vector latency from Java beside the Python client, on one server.
java-bench: $(STAMP) java-install
	$(PY) benchmarks/jvm_bench.py $(BENCH_ARGS)

# The documentation site into site/, strictly (broken links and warnings fail). mkdocs runs
# auto_doc.py as a hook, which writes the API, CLI and benchmark pages into docs/generated/.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Side-by-side benchmarks against Feast, MLflow and the raw libraries (~30-40 min at full size).
# BENCH_ARGS="--smoke" for a quick run, "--only pit,online" for some sections.
bench: $(STAMP)
	benchmarks/setup_peers.sh
	benchmarks/.venv-bench/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .larder-demo
