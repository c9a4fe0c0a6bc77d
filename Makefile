# The whole set-up is `make run` (demo) and `make test` (every test).
#
# Python: the newest of python3.13, python3.12, python3.11 (or python3 when
# it is 3.11 or newer) that runs, unless PYTHON=/path/to/python is given.
# The virtualenv is rebuilt when the interpreter's version changes.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { command -v $$p; break; }; done)
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
# The stamp names the interpreter version: another version, another stamp.
STAMP := $(VENV)/.installed-py$(PY_VERSION)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean check-port

$(STAMP): pyproject.toml
	@test -n "$(PY_VERSION)" || { \
	  echo "No Python 3.11 or newer found (tried python3.13, python3.12, python3.11, python3)."; \
	  echo "Install one, for example: sudo apt-get install python3 python3-venv (Debian 12 or 13, Ubuntu 24.04),"; \
	  echo "or pass the interpreter to use: make $(MAKECMDGOALS) PYTHON=/path/to/python3.12"; \
	  exit 1; }
	@if [ -e $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$(PY_VERSION)" ]; then \
	  echo "Rebuilding $(VENV) for Python $(PY_VERSION) ($(PYTHON))"; rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed $(VENV)/.installed-py*
	touch $(STAMP)

var/secrets.env: | $(STAMP)
	$(BIN)/python -m config.secrets var/secrets.env

# Say at once that the port is taken, not after a minute of set-up.
check-port:
	@$(PYTHON) -c 'import socket, sys; s = socket.socket(); \
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
	sys.exit(s.connect_ex(("$(HOST)", $(PORT))) == 0 or s.bind(("$(HOST)", $(PORT))))' 2>/dev/null \
	|| { echo "Port $(PORT) on $(HOST) is already in use: stop what listens there, or run: make run PORT=8001"; exit 1; }

run: $(STAMP) var/secrets.env check-port
	@# Adds secrets a newer version needs to an existing file (never replaces one).
	$(BIN)/python -m config.secrets var/secrets.env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_communes
	$(BIN)/python manage.py import_competence
	$(BIN)/python manage.py import_directory
	$(BIN)/python manage.py create_sealing_keys --install --out var/custodian --passphrase-file var/custodian/passphrase
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@$(MAKE) --no-print-directory check-port
	@echo "Serving on http://$(HOST):$(PORT)/ (visitor) and http://$(HOST):$(PORT)/console/ (staff)"
	$(BIN)/daphne -v 0 --no-server-name -b $(HOST) -p $(PORT) config.asgi:application

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Removes the virtualenv, the demo database, collected static files and test
# leftovers. Keeps var/secrets.env and var/custodian/ (the demo's keys).
clean:
	rm -rf $(VENV) var/*.sqlite3 var/*.sqlite3-* var/static test-artifacts *.egg-info .pytest_cache .ruff_cache
