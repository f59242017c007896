# `make demo` sets up a virtualenv and runs the nightly job on the sample feeds;
# `make test` runs the test suite. Both need only Python 3.11+ and network access to PyPI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= instance/demo
# The demo signs its links with a fixed key: it runs on this machine only.
DEMO := DIGEST_DATA_DIR=$(DEMO_DIR) DIGEST_SECRET_KEY=demo-only-key $(BIN)/digest

.PHONY: install demo test typecheck clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: install
	rm -rf $(DEMO_DIR)
	@$(DEMO) init-db
	@$(DEMO) fetch sample_data/arxiv-rss/*/*.xml
	@$(DEMO) import-subscribers sample_data/subscribers.json
	@$(DEMO) run-night

test: install
	$(BIN)/python -m pytest

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache
