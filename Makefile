# Maillage: two commands. `make run` starts the app on embedded defaults, `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install worker bench-crawl bench-finess bench-search bench-api bench-pages bench-registration bench-outbox bench-freshness clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

## Start the app: migrate, load reference and demo data on first run, embedded Redis + RQ worker + web app.
run: $(STAMP)
	$(BIN)/python -m crm.devserver

## Run the test suite (TEST_DATABASE_URL / TEST_REDIS_URL select real servers; see README).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The shape of the code: import contracts of the floors (.importlinter), ruff lint and format (ruff.toml).
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

worker: $(STAMP)
	$(BIN)/rq worker --with-scheduler -w workflows.worker.Worker --url "$${REDIS_URL:?set REDIS_URL}" outbox mail imports default

bench-finess: $(STAMP)
	$(BIN)/python bench/finess_import.py

bench-search: $(STAMP)
	$(BIN)/python bench/search.py

bench-api: $(STAMP)
	$(BIN)/python bench/api_activities.py

bench-pages: $(STAMP)
	$(BIN)/python bench/pages.py

bench-registration: $(STAMP)
	$(BIN)/python bench/registration.py

bench-outbox: $(STAMP)
	$(BIN)/python bench/outbox_throughput.py

bench-freshness: $(STAMP)
	$(BIN)/python bench/freshness.py

clean:
	rm -rf $(VENV) .pytest_cache

bench-crawl: $(STAMP)
	$(BIN)/python bench/crawl.py
