# kefu — `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: help run test lint typecheck bench browser clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $@

run: $(STAMP) ## serve the embedded default (SQLite under ./data, no LLM) on http://127.0.0.1:8000
	$(BIN)/kefu serve

browser: ## install Debian's Chromium for the browser test where we can (root + apt)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium not installed: the browser test will skip"; \
	  else echo "no root/apt: the browser test will skip"; fi; }

test: $(DEVSTAMP) browser ## run the whole test suite (integration tests skip absent services)
	$(BIN)/pytest

lint: $(DEVSTAMP) ## ruff
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEVSTAMP) ## mypy --strict on src/
	$(BIN)/mypy

bench: $(DEVSTAMP) ## load benchmark against a freshly started server
	$(BIN)/python bench/load.py --spawn

clean: ## remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
