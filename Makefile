# Two commands do all the set-up on a fresh machine:
#   make run    install, then run the pipeline on the built-in default data
#   make test   install, then lint and run every test (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: install run test unit integration lint mlflow-ui clean chromium bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]"
	touch $@

run: install
	$(BIN)/yieldflow run --summary-json yieldflow-runs/latest-summary.json

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# tests/unit: no servers or subprocesses, one process per core; tests/integration: real
# servers, one test at a time.
unit: install
	$(BIN)/pytest -q -n auto tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

test: lint unit integration

# The browser tests (tests/integration/test_browser.py) drive Debian's /usr/bin/chromium
# with Playwright (no browser download). CI runs this as root before `make test`; elsewhere install it once
# with `sudo make chromium` (the browser tests skip without it, outside CI).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing chromium (apt-get)"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; \
	fi

bench: install
	$(BIN)/python -m benchmarks

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean:
	rm -rf yieldflow-runs mlruns mlflow.db .pytest_cache
