# Larder: `make demo` runs the main job on the embedded platform, `make test` runs every check.
# Each target installs what it needs into .venv (idempotent: a stamp per pyproject.toml content).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed-$(shell cat python/pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test bench docs site screenshots lint typecheck unit e2e install sysdeps ui-assets clean java-install java-test java-bench dist

# System packages the tests use as real services: redis-server (Debian), and Debian's Chromium for
# the web UI's browser tests (Playwright drives /usr/bin/chromium; it never downloads a browser).
# Java's keytool ships with the JDK.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
sysdeps:
	@command -v redis-server >/dev/null && command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq redis-server chromium fonts-dejavu-core >/dev/null; }

# The web UI's JavaScript (htmx, Chart.js; axe-core for the tests) from the npm registry, pinned by
# ui/package-lock.json, copied into the package's static dir. A stamp per lockfile content.
UI_VENDOR := python/larder/server/ui/static/vendor
UI_STAMP := $(UI_VENDOR)/.built-$(shell cat ui/package-lock.json | sha1sum | cut -c1-12)
$(UI_STAMP): ui/package.json ui/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(UI_VENDOR) && mkdir -p $(UI_VENDOR)
	cp ui/node_modules/htmx.org/dist/htmx.min.js ui/node_modules/chart.js/dist/chart.umd.min.js $(UI_VENDOR)/
	cp ui/node_modules/htmx.org/LICENSE $(UI_VENDOR)/htmx.LICENSE
	cp ui/node_modules/chart.js/LICENSE.md $(UI_VENDOR)/chart.js.LICENSE.md
	touch $(UI_STAMP)

ui-assets: $(UI_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(STAMP): $(PY) python/pyproject.toml
	$(PIP) install -e 'python[dev,demo]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) $(UI_STAMP)

demo: $(STAMP) $(UI_STAMP)
	LARDER_HOME=$${LARDER_HOME:-$(CURDIR)/.larder-demo} $(PY) examples/flights_demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check python tests benchmarks examples
	$(VENV)/bin/ruff format --check python tests benchmarks examples

typecheck: $(STAMP)
	cd python && ../$(VENV)/bin/mypy

test: lint typecheck sysdeps site $(UI_STAMP) java-test
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

# The documentation: the web UI's screenshots (docs/images/ui/, taken by its browser tests), then
# the site. `make test` builds only the site: its browser tests run once, in pytest.
docs: screenshots site

# The site into site/, strictly (broken links and warnings fail). mkdocs runs auto_doc.py as a
# hook, which writes the API, CLI and benchmark pages into docs/generated/.
site: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

screenshots: $(STAMP) $(UI_STAMP) sysdeps
	LARDER_UI_SCREENSHOTS=$(CURDIR)/docs/images/ui $(VENV)/bin/pytest -q tests/test_ui.py

# The distribution `larder-platform` (import `larder`) as a wheel and an sdist in dist/, checked
# with `twine check --strict`. Install the wheel with its extras, e.g.
# pip install 'dist/larder_platform-0.1.0-py3-none-any.whl[server,python]'.
dist: $(STAMP) $(UI_STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist python
	$(VENV)/bin/twine check --strict dist/*

# Side-by-side benchmarks against Feast, MLflow and the raw libraries (~30-40 min at full size).
# BENCH_ARGS="--smoke" for a quick run, "--only pit,online" for some sections.
bench: $(STAMP)
	benchmarks/setup_peers.sh
	benchmarks/.venv-bench/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .larder-demo ui/node_modules $(UI_VENDOR) dist
