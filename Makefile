# Self-documenting: `make help` lists every target with its comment.
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint lint-deploy lock typecheck test test-unit test-integration demo serve \
        bench clean vendor-chartjs

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@# The console's browser test drives Debian's chromium (tests/integration/test_console.py).
	command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create the virtual environment and install the project with its dev tools

lint: $(STAMP) ## ruff (style, bugs, async rules) and the layer contracts (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory lint-deploy

lint-deploy: $(STAMP) ## deploy/: Dockerfile (hadolint), compose schema, manifests, rules, dashboards
	@# promtool (rules, their tests and the dashboards' PromQL) comes with Debian's prometheus.
	command -v promtool >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --schemafile deploy/schemas/compose-spec.json deploy/compose/compose.yaml
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.test.yml
	$(BIN)/python deploy/check.py

lock: $(STAMP) ## Pin the image's dependencies again: deploy/requirements.lock from pyproject.toml
	mkdir -p var
	$(BIN)/pip install -q --dry-run --ignore-installed --report var/lock-report.json .
	$(BIN)/python deploy/lock.py var/lock-report.json > deploy/requirements.lock

typecheck: $(STAMP) ## mypy strict on the packages
	$(BIN)/mypy

test-unit: $(STAMP) ## Unit tests: nothing running needed
	$(BIN)/pytest tests/unit -q

# Two pytest processes, each with a whole stack of its own (its own database, Ray and Redis
# database: tests/integration/conftest.py); a file stays on one process, whose tests may share
# module fixtures. The suite mostly waits (simulated delays, expiries, process starts), so two
# processes on two cores take about two thirds of the time of one. Files go out in the order
# collected (xdist would otherwise send the files with the most tests first, and the few long
# ones last: tests/integration/conftest.py puts those first).
XDIST := -n 2 --dist loadfile --no-loadscope-reorder

test-integration: $(STAMP) ## Integration tests: real SecantusDB, Redis, local Ray, simulators
	$(BIN)/pytest tests/integration -q -m integration $(XDIST)

test: $(STAMP) lint typecheck ## Lint, typecheck and the whole test suite
	$(BIN)/pytest -q $(XDIST) --durations=20

demo: $(STAMP) ## Run the demo: STK Push payments end to end on the embedded stack
	$(BIN)/python -m switch demo

serve: $(STAMP) ## Run the switch in sandbox mode on :8080
	$(BIN)/python -m switch serve --sandbox

bench: $(STAMP) ## Load test: STK Push, 50 users, 60 s; writes bench/results/<date>-stk.{json,md,png}
	$(BIN)/python -m bench run --scenario stk --users 50 --duration 60

CHARTJS_VERSION := 4.6.2
CHARTJS_DIR     := api/console/static/vendor
vendor-chartjs: ## Fetch Chart.js $(CHARTJS_VERSION) with npm pack again; checks the recorded sha256
	rm -rf var/chartjs && mkdir -p var/chartjs
	cd var/chartjs && npm pack --silent chart.js@$(CHARTJS_VERSION) && tar xzf chart.js-$(CHARTJS_VERSION).tgz
	cp var/chartjs/package/dist/chart.umd.min.js $(CHARTJS_DIR)/chart.umd.min.js
	cp var/chartjs/package/LICENSE.md $(CHARTJS_DIR)/chart.js-LICENSE.md
	cd $(CHARTJS_DIR) && sha256sum -c chart.umd.min.js.sha256
	rm -rf var/chartjs

clean: ## Remove local data and caches (keeps the virtual environment)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
