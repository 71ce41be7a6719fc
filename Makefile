# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint format clean

run: $(VENV)/.run-deps
	$(BIN)/scimserver serve --demo

test: $(VENV)/.test-deps
	@if [ "$$(id -u)" = 0 ]; then bash tests/install-debian-deps.sh; fi
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: $(VENV)/.test-deps
	@if [ "$$(id -u)" = 0 ]; then bash tests/install-debian-deps.sh; fi
	$(BIN)/python bench/run.py

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.test-deps
	$(BIN)/ruff format .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-deps: setup.cfg pyproject.toml tests/plugins/domain_guard/setup.cfg | $(BIN)/python
	$(BIN)/pip install -q -e ".[all]"
	$(BIN)/pip install -q -e tests/plugins/domain_guard  # a third-party plugin, installed for real
	touch $@ $(VENV)/.run-deps

clean:
	rm -rf $(VENV) var .pytest_cache
