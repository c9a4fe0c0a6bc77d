# The whole set-up is `make run` (demo) and `make test` (every test).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench clean serve

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

var/secrets.env: | $(STAMP)
	$(BIN)/python -m config.secrets var/secrets.env

run: $(STAMP) var/secrets.env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_communes
	$(BIN)/python manage.py import_competence
	$(BIN)/python manage.py import_directory
	$(BIN)/python manage.py create_sealing_keys --install --out var/custodian --passphrase-file var/custodian/passphrase
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Serving on http://$(HOST):$(PORT)/ (visitor) and http://$(HOST):$(PORT)/console/ (staff)"
	$(BIN)/daphne -v 0 --no-server-name -b $(HOST) -p $(PORT) config.asgi:application

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var/*.sqlite3 var/static
