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

# `make bench`: lock, install and image-build times per dependency manager, image size, and the generated service's
# throughput against a bare Flask app (bench/run.py; writes bench/results.md, .png, .json). Needs Docker and wrk.
# Options go through BENCH_ARGS, e.g. `make bench BENCH_ARGS="--quick"` or `BENCH_ARGS="--runs 5"`.
BENCH_ARGS ?=

.PHONY: bench
bench: $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet --group bench
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)
