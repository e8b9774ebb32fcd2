# dropout-risk: `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install browser java demo test lint format bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv/ and install the project with its pinned dependencies

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

browser: ## Make sure Debian's chromium is installed (page tests, demo screenshot)
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=; \
		if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	}

java: ## Make sure a Java 17+ runtime is installed (the Spark scale-out tests; Debian's headless JRE)
	@command -v java >/dev/null 2>&1 || [ -n "$$JAVA_HOME" ] || ls /usr/lib/jvm/*/bin/java >/dev/null 2>&1 || { \
		SUDO=; \
		if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends default-jre-headless; \
	}

demo: install browser ## Synthesise a cohort, train, score and report (writes demo-output/)
	$(BIN)/dropout-risk demo --out demo-output

test: install browser java ## Run the test suite (it ends with the 15 slowest tests)
	$(BIN)/python -m pytest --durations=15

lint: install ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install browser ## Run the benchmarks (writes bench/results.json, bench/clinics_results.json, bench/review_results.json, bench/serving_results.json, bench/page_results.json)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/clinics.py
	$(BIN)/python bench/scale.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/serving.py
	$(BIN)/python bench/review.py
	$(BIN)/python bench/page.py
	$(BIN)/python bench/identity.py --check

clean: ## Remove the venv, the demo output and the local MLflow store
	rm -rf $(VENV) demo-output mlflow.db mlruns mlartifacts .pytest_cache .ruff_cache
