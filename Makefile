# Threadline: `make run` serves the hub, `make test` runs the suite. Both set themselves up from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: run test bench lint format migrate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input

# API (uvicorn), Celery worker and Celery beat in the foreground; Ctrl-C stops all three, each by itself.
# config/run.py is honcho with time for the worker to stop and status 0 for a stop that was asked for; make
# then ends on the SIGINT it got too, without an error.
run: migrate
	@echo "Threadline on http://127.0.0.1:$(PORT)  (docs: http://127.0.0.1:$(PORT)/api/v1/docs)"
	$(BIN)/python -m config.run -f Procfile -p $(PORT)

# One pytest-xdist worker per core, each taking whole test files (a file's tests run in order on one worker);
# XDIST= runs in one process.
XDIST ?= -n auto --dist loadfile

test: $(STAMP)
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# Benchmarks on PostgreSQL (DATABASE_URL names the server; they use a scratch database on it).
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var .pytest_cache .ruff_cache
