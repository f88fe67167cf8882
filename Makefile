# Tandem's two commands: `make run` (serve) and `make test` (the whole suite).
# Both install what they need into .venv on first use and are safe to repeat.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint migrate install frontend chaos

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tandem needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

# Third-party Yjs clients (y-websocket in Node) that the suite drives against the server.
NODE_CLIENTS := tests/collab/node/node_modules/.installed
$(NODE_CLIENTS): tests/collab/node/package-lock.json
	cd tests/collab/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser editor (frontend/): `npm ci` when the lock file changes, a Vite build when its
# sources change; the built index.html is the stamp. Django serves frontend/dist.
FRONTEND_DEPS := frontend/node_modules/.installed
FRONTEND_BUILD := frontend/dist/index.html
FRONTEND_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json
$(FRONTEND_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@
$(FRONTEND_BUILD): $(FRONTEND_DEPS) $(FRONTEND_SOURCES)
	cd frontend && npm run --silent build
	touch $@

frontend: $(FRONTEND_BUILD)

# Debian's Chromium for the browser tests (tests/e2e), never a test tool's own download.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "The browser tests need Chromium at $@: install it (Debian: apt-get install chromium)."; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation

migrate: $(STAMP) $(FRONTEND_BUILD)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0

run: migrate
	$(PY) -m backend.serve

# The test suite talks to the real PostgreSQL and Redis of this machine.
test: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
test: export REDIS_URL ?= redis://127.0.0.1:6379/0
test: export SECRET_KEY ?= tandem-test-only-secret-key-not-for-production
test: export REDIS_PREFIX ?= tandem-test
test: $(STAMP) $(NODE_CLIENTS) $(FRONTEND_BUILD) $(CHROMIUM)
	bash deploy/scripts/install-test-tools.sh
	$(PY) -m ruff check backend tests bench
	$(PY) -m ruff format --check backend tests bench
	$(PY) -m mypy
	cd frontend && npm test --silent
	cd frontend && npm run --silent lint
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) -m pytest

# The reliability scenarios of tests/reliability at their large size (the suite runs them small):
# fault injection, fuzzing, abuse, storm and soak. Prints the figures table (also written to
# test-artifacts/reliability/figures-chaos.json); replay a seed with CHAOS_SEED=<seed>.
chaos: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
chaos: export REDIS_URL ?= redis://127.0.0.1:6379/0
chaos: export SECRET_KEY ?= tandem-test-only-secret-key-not-for-production
chaos: export REDIS_PREFIX ?= tandem-chaos
chaos: export TEST_DATABASE_NAME ?= test_chaos
chaos: export CHAOS = 1
chaos: $(STAMP) $(NODE_CLIENTS)
	$(PY) -m pytest tests/reliability -p no:cacheprovider -s $(CHAOS_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check backend tests bench
	$(PY) -m ruff format --check backend tests bench
	$(PY) -m mypy

# The benchmark suite (bench/, docs/performance.md): every server under test on loopback,
# driven by the same clients in one run; prints a table, writes bench/results/latest.json.
# `make bench BENCH_QUICK=1` is a short pass; BENCH_ARGS passes --servers/--workloads.
# It uses PostgreSQL's database tandem_bench (created on first use) and Redis's prefix
# tandem-bench, never the test database.
BENCH_QUICK ?=
BENCH_ARGS ?=
BENCH_NODE := bench/node_modules/.installed
BENCH_VENV := bench/.venv/.installed
$(BENCH_NODE): bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	touch $@
# pycrdt-websocket pins its own pycrdt: it lives in a venv of its own (with py-spy).
$(BENCH_VENV): bench/requirements-pycrdt-websocket.txt
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements-pycrdt-websocket.txt
	touch $@

.PHONY: bench
bench: $(STAMP) $(BENCH_NODE) $(BENCH_VENV)
	$(PY) bench/run.py $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)
