# The template repository's own commands. `make test` is the one command that runs the whole suite on a fresh
# machine: it makes .venv with the test tools (pyproject.toml, group "test") and runs pytest.

PYTHON ?= python3
VENV := .venv
PYTEST_ARGS ?=

.PHONY: test clean

test: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# pip reads dependency groups from pyproject.toml since 25.1.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(VENV)/bin/python -m pip install --quiet --group test
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
