# The two commands a newcomer needs:
#   make demo   run syncd's main job on embedded defaults (local CouchDB-API + S3 servers)
#   make test   run the test suite against real servers on 127.0.0.1
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
POUCHDB := .cache/pouchdb/node_modules/.bin/pouchdb-server

.PHONY: deps demo test test-fast lint bench rclone sysdeps clean

deps: $(PY) $(POUCHDB)

$(PY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(PY)

$(POUCHDB):
	mkdir -p .cache/pouchdb
	npm install --silent --no-audit --no-fund --prefix .cache/pouchdb pouchdb-server@4.2.0

demo: deps
	$(PY) -m tests.support.demo

# Every tier (tests/unit, tests/integration, tests/e2e), with the coverage of syncd/ measured
# in process and held to the floor in pyproject.toml ([tool.coverage.report] fail_under)
test: deps sysdeps
	$(PY) -m pytest --cov=syncd --cov-report=term:skip-covered

# The unit tier: no server, no process, under a minute
test-fast: deps
	$(PY) -m pytest tests/unit

# The test servers syncd's CDR and media tests start on 127.0.0.1 come from Debian's packages:
# PostgreSQL, MariaDB and ffmpeg (ffprobe). Installed when make runs as root, else asked for.
SYSDEPS_MISSING = $(strip \
	$(if $(wildcard /usr/lib/postgresql/*/bin/initdb)$(shell command -v initdb),,postgresql) \
	$(if $(wildcard /usr/sbin/mariadbd)$(shell command -v mariadbd),,mariadb-server) \
	$(if $(shell command -v ffprobe),,ffmpeg))
sysdeps:
	@if [ -n "$(SYSDEPS_MISSING)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSDEPS_MISSING); \
	  else echo "make test needs Debian packages that are missing: sudo apt-get install -y $(SYSDEPS_MISSING)" >&2; exit 2; fi; \
	fi

# ruff (rules and format), mypy strict and import-linter's contracts (the floors of README's Layout),
# as configured in pyproject.toml: zero findings
lint: deps
	$(VENV)/bin/ruff check syncd tests bench
	$(VENV)/bin/ruff format --check syncd tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# Benchmarks compare with rclone in the same run, on real Apache CouchDB (../shared/couchdb)
# and on pouchdb-server. rclone is installed from Debian when make runs as root, else asked for.
bench: deps rclone
	$(PY) bench/upload.py --couchdb real
	$(PY) bench/upload.py --couchdb pouchdb
	$(PY) bench/reconcile.py --couchdb real
	$(PY) bench/reconcile.py --couchdb pouchdb
	$(PY) bench/cdr.py --couchdb real
	$(PY) bench/referrers.py --couchdb real

rclone:
	@command -v rclone >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq rclone; \
	  else echo "make bench needs rclone, the reference tool: sudo apt-get install rclone" >&2; exit 2; fi; }

clean:
	rm -rf $(VENV) .cache demo-data
