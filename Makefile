# The single entry point for developers, the README and CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser test test-fast lint format serve bench clean docs

install: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes. torch is installed first and pinned so
# that pip never resolves a newer (CUDA) build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The browser tests (tests/browser) drive Debian's chromium through Playwright; Playwright never
# downloads a browser. Installed with apt-get when missing (`sudo -n` unless root). With
# --no-install-recommends apt still brings fonts-dejavu-core (through fontconfig) but not
# fonts-liberation (the Arial / Times / Courier metrics), which chromium only recommends.
CHROMIUM := /usr/bin/chromium
CHROMIUM_PACKAGES := chromium fonts-liberation fonts-dejavu-core
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo -n"; fi; \
	  echo "installing $(CHROMIUM_PACKAGES) with apt-get"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    $(CHROMIUM_PACKAGES) && \
	  test -x $(CHROMIUM); }

test: install browser
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

# About an hour: benchmarks/training_eval.py alone runs advanced training at 2, 5 and 10 minutes;
# benchmarks/trust_eval.py (unknown, shortcuts, label issues) takes about 10.
bench: install
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/http_bench.py
	$(BIN)/python benchmarks/web_bench.py
	$(BIN)/python benchmarks/check_eval.py
	$(BIN)/python benchmarks/training_eval.py
	$(BIN)/python benchmarks/trust_eval.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

docs: install
	$(BIN)/python scripts/gen_cli_docs.py
