# The single entry point for developers, the README and CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint format serve bench clean docs

install: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes. torch is installed first and pinned so
# that pip never resolves a newer (CUDA) build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m 'not slow'

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# Installs everything, then runs the HTTP service (native API, Custom Vision routes).
# `make serve PORT=9000 DATA_DIR=/srv/tagloop` to choose where it listens and keeps its data.
HOST ?= 127.0.0.1
PORT ?= 8000
serve: install
	exec $(BIN)/tagloop serve --host $(HOST) --port $(PORT) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

bench: install
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/http_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

docs: install
	$(BIN)/python scripts/gen_cli_docs.py
