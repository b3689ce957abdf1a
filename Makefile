# The two commands that matter: `make run` builds the sample lake, `make test` proves it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export LAKEHOUSE_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(LAKEHOUSE_DATA_DIR)/dagster_home

.PHONY: install run test bench ui daemon worker lint format clean

install: $(STAMP)

# Reinstall only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/lakehouse generate
	$(BIN)/lakehouse build

# The Debian packages the tests need (Chromium, PostgreSQL, redis-server) are installed first when
# missing; without root or sudo it stops here and prints the apt-get line to run.
test: install
	bash .ci/system-packages
	$(BIN)/python -m pytest

# Benchmarks against raw DuckDB, Polars and pandas: `make bench SIZE=S|M|L` (default M).
# Writes bench/results/<time>-<size>.json, bench/RESULTS.md and bench/scaling-<size>.png.
SIZE ?= M
bench: install
	$(BIN)/lakehouse bench --size $(SIZE)

ui: install
	$(BIN)/lakehouse init-home
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The daemon alone (sensors, schedules, backfills, run retries) for hosts without the UI.
daemon: install
	$(BIN)/lakehouse init-home
	$(BIN)/dagster-daemon run -w workspace.yaml

# One Celery worker that runs steps of runs launched with LAKEHOUSE_EXECUTOR=celery; it reads
# LAKEHOUSE_CELERY_BROKER and LAKEHOUSE_CELERY_BACKEND (README, "Scaling out").
# `make worker NAME=w2` starts another beside it.
NAME ?= worker1
worker: install
	$(BIN)/lakehouse init-home
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dagster-celery worker start -A dagster_celery.app \
		-y deploy/celery.yaml -n $(NAME) -- --concurrency=1

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(LAKEHOUSE_DATA_DIR)/landing $(LAKEHOUSE_DATA_DIR)/lake $(LAKEHOUSE_DATA_DIR)/dagster_home
