"""Benchmark of the service this template generates, once per dependency manager (Poetry, pip, uv).

Run it with ``make bench`` or ``.venv/bin/python -m bench [--runs N] [--quick]`` from the repository root. It
writes ``bench/results.json`` (every figure measured), then the documentation's ``docs/bench/results.md``,
``docs/bench/results.png`` and the section of the benchmark page ``docs/benchmark.md`` (between
``<!-- bench:start -->`` and ``<!-- bench:end -->``), all rendered from results.json. ``python -m bench --render``
renders them again from results.json without measuring.

Modules
-------
- ``system``: commands run with a user's environment, machine facts, tool versions, Docker readiness.
- ``measure``: the example monorepo per manager and the timings, described by the ``MEASUREMENTS`` table and
  taken by the ``STEPS`` (lock, install, image).
- ``servers``: the servers measured for throughput, described by the ``SERVERS`` table (key, kind, command).
- ``load``: wrk against each server, rounds in rotating order; failed requests kept apart from throughput.
- ``stats``: medians, min-max over runs and rounds, per-round ratios; pure functions of results.json.
- ``report``: Markdown, chart, the benchmark page's section and the verdict (ratio under target, failed requests).

Method
------
For each manager, the example monorepo is generated in a temporary directory: ``libs/discount_calculator`` (a
copy of the shared package) and ``services/order_manager`` generated with the package by path and
``database=postgresql``, for Python 3.12, on a throwaway PostgreSQL server of the benchmark's own.
Every command is the service's own ``make`` verb, run with the environment a user has: no outer virtualenv, no
pip configuration of this machine, the template's tools on PATH. Each run, managers take turns, so that drift in
the machine or the network spreads over all three:

- lock: the lock file(s) and ``.venv`` removed, ``make lock`` with an empty cache directory (every tool's cache
  variable points into a new empty directory); then both removed again and ``make lock`` with the cache the first
  lock left. Without the removal, ``uv lock`` only checks an existing lock and Poetry keeps its pins; without uv on
  PATH, pip's ``make lock`` would install uv into ``.venv`` first, so every run starts without one.
- install: ``.venv`` removed, ``make install`` with an empty cache, then again with the cache it filled.
- to green: a service of its own, as a team's first run makes it: the generate command (every default but the
  manager and the Python; the post-gen hook locks), ``make install`` and ``make test``, timed together, after one
  untimed round that warms a cache of its own.
- image: ``make docker-build`` with ``--no-cache --network host`` (the base image present); then one line
  appended to ``src/order_manager/api.py`` and ``make docker-build`` again with the cache; the runtime image's
  size minus the size of its ``python:3.12-slim`` base.

Throughput, after the runs: every server of ``servers.SERVERS`` on 127.0.0.1 at once, measured one at a time
with the same wrk parameters, in an order that rotates every round. Requests per second count only answers
under 400; answers of 400 and over and socket errors are counted apart, and any of them fails the benchmark.
The ratio of the generated services to each other server is taken per round (the median of the generated
services in that round over that server in the same round); the report gives its median and its min-max over
rounds, the run-to-run noise. The benchmark exits 1 when a ratio falls under its server's target. Rows that
need the service generated with other answers (``servers.VARIANTS``: traces on) run from that variant, generated,
locked and installed once with the last manager; its runtime image is built once and its size is a note. The
sampled row exports its spans to an OTLP/HTTP receiver in the benchmark's own process; none arriving fails the run.

Everything started here is stopped here: servers run in their own process group and are stopped by PID, the
temporary directory is removed, and the images built here are removed, by tag and by the IDs the builds printed.
"""
