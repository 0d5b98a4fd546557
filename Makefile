# Self-documenting: `make help` lists every target with its comment.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint typecheck test test-unit test-integration demo serve bench clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create the virtual environment and install the project with its dev tools

lint: $(STAMP) ## ruff (style, bugs, async rules) and the layer contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy strict on the packages
	$(BIN)/mypy

test-unit: $(STAMP) ## Unit tests: nothing running needed
	$(BIN)/pytest tests/unit -q

test-integration: $(STAMP) ## Integration tests: real SecantusDB, Redis, local Ray, simulators
	$(BIN)/pytest tests/integration -q -m integration

test: $(STAMP) lint typecheck ## Lint, typecheck and the whole test suite
	$(BIN)/pytest -q

demo: $(STAMP) ## Run the demo: STK Push payments end to end on the embedded stack
	$(BIN)/python -m switch demo

serve: $(STAMP) ## Run the switch in sandbox mode on :8080
	$(BIN)/python -m switch serve --sandbox

bench: $(STAMP) ## Load test: STK Push, 50 users, 60 s; writes bench/results/<date>-stk.{json,md,png}
	$(BIN)/python -m bench run --scenario stk --users 50 --duration 60

clean: ## Remove local data and caches (keeps the virtual environment)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
