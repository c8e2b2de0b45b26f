"""``python -m bench``: measure (or, with ``--render``, only render), write the outputs, judge the run."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bench
from bench import measure, report, servers, stats
from bench.load import Wrk, measure_slow_clients, measure_throughput, worker_memory_mb
from bench.system import (
    BENCH_DIR,
    TEMPLATE_DIR,
    BenchError,
    docker_ready,
    installed_versions,
    log,
    machine_facts,
    progress,
    tool_versions,
)
from kit.postgres import PostgresGetter, PostgresServer
from kit.processes import CommandFailed, python_executable
from kit.serving import otlp_receiver
from kit.template import MANAGERS

# The benchmark page of the documentation site. The committed run's results.md and chart go beside it, into
# docs/bench/, so that the page's links to them resolve on the site and in the repository alike.
PAGE = TEMPLATE_DIR / "docs" / "benchmark.md"
PAGE_FILES_DIR = PAGE.parent / "bench"
# The README's measured paragraph, rendered from the same results.
README = TEMPLATE_DIR / "README.md"


@dataclass(frozen=True)
class Options:
    runs: int
    wrk: Wrk
    managers: tuple[str, ...]
    docker: bool
    keep: bool
    render: bool
    output_dir: Path

    @property
    def writes_page(self) -> bool:
        """The benchmark page shows the committed results only: those in bench/."""
        return self.output_dir.resolve() == BENCH_DIR

    @property
    def rendered_dir(self) -> Path:
        """Where results.md and the chart go: beside the benchmark page for the committed results, else OUTPUT_DIR."""
        return PAGE_FILES_DIR if self.writes_page else self.output_dir


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(bench.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement and rounds of wrk (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run and 5-second wrk runs: a smoke test")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--managers", default=",".join(MANAGERS), help="comma-separated subset of poetry,pip,uv")
    parser.add_argument("--no-docker", action="store_true", help="skip the image measurements")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (its path is printed)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=BENCH_DIR,
        help="where results.* go (default bench/: then results.md and the chart go to docs/bench/ and the "
        "benchmark page's section is rewritten)",
    )
    parser.add_argument(
        "--render", action="store_true", help="measure nothing: render the outputs again from OUTPUT_DIR/results.json"
    )
    args = parser.parse_args(argv)
    managers = tuple(m.strip() for m in args.managers.split(",") if m.strip())
    if not managers or set(managers) - set(MANAGERS):
        parser.error(f"--managers {args.managers!r} is not a subset of {','.join(MANAGERS)}; use e.g. uv,pip")
    if args.runs < 1 or args.duration < 1:
        parser.error(f"--runs {args.runs} / --duration {args.duration}: both must be at least 1")
    return Options(
        runs=1 if args.quick else args.runs,
        wrk=Wrk(threads=args.threads, connections=args.connections, duration=5 if args.quick else args.duration),
        managers=managers,
        docker=not args.no_docker,
        keep=args.keep,
        render=args.render,
        output_dir=args.output_dir,
    )


def answer_text(value: Any) -> str:
    """An answer as a user types it at the prompt: yes/no for booleans."""
    return "yes" if value is True else "no" if value is False else str(value)


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


def benchmark(
    options: Options, workdir: Path, images: measure.Images | None, postgres: PostgresGetter
) -> dict[str, Any]:
    """Every measurement of ``options``: the results as results.json holds them."""
    started = time.perf_counter()
    python = python_executable(measure.PYTHON_VERSION)
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
        "tools": tool_versions(python, options.docker),
        "service": measure.SERVICE,
        "python": measure.PYTHON_VERSION,
    }
    log(f"Generating the example monorepo for {', '.join(options.managers)} in {workdir}")
    services = [measure.generate(manager, workdir / manager, postgres) for manager in options.managers]

    timings: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    for index in range(options.runs):
        log(f"\nRun {index + 1}/{options.runs}")
        this = measure.Run(python=python, index=index, images=images, notes=notes)
        for service in services:
            measure.measure_run(service, this, timings)
        if images is not None:
            images.remove_all()  # one run's images at a time on disk

    last = services[-1].manager
    log(f"\nGenerating and installing the variants {', '.join(servers.VARIANTS)} ({last})")
    variants = {
        name: measure.generate_variant(last, workdir / f"variant-{name}", python, answers, postgres)
        for name, answers in servers.VARIANTS.items()
    }
    if images is not None:
        for name, variant in variants.items():
            size = measure.variant_image_size(variant, python, images)
            answers = ", ".join(f"`{key}={answer_text(value)}`" for key, value in servers.VARIANTS[name].items())
            notes.append(
                f"runtime image of the service generated with {answers} ({last}): {size:.1f} MB over "
                f"`{measure.BASE_IMAGE}`"
            )
            progress(last, name, "runtime image", f"{size:.1f} MB")
        images.remove_all()
    with ExitStack() as stack:
        receiver = stack.enter_context(otlp_receiver())
        running = servers.start_servers(stack, services, variants, workdir, receiver.url)
        throughput = measure_throughput(running, options.wrk, rounds=options.runs)
        throughput["worker_memory_mb"] = {server.key: worker_memory_mb(server) for server in running}
        throughput["slow_clients"] = measure_slow_clients(running)
        if any(server.spec.exports_spans for server in running) and receiver.exports == 0:
            raise servers.BenchError("no span reached the OTLP receiver from the rows that export them")
        throughput["otlp_exports"] = receiver.exports

    reference = services[-1]
    meta["serving_stack"] = installed_versions(reference.venv_bin / "python", reference.path)
    meta["gunicorn"] = servers.describe_settings(servers.gunicorn_server_settings(reference))
    meta["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    meta["runtime"] = format_duration(time.perf_counter() - started)
    if images is None:
        notes.append("image measurements skipped (--no-docker or no Docker engine)")
    return {
        "schema": 2,
        "meta": meta,
        "settings": {
            "runs": options.runs,
            "rounds": options.runs,
            "wrk": {
                "threads": options.wrk.threads,
                "connections": options.wrk.connections,
                "duration_s": options.wrk.duration,
            },
            "managers": list(options.managers),
        },
        "measurements": measure.measurements_table(),
        "timings": timings,
        "throughput": throughput,
        "notes": notes,
    }


def write_outputs(results: dict[str, Any], options: Options, *, measured: bool) -> None:
    """results.json (when just measured), results.md, results.png and the benchmark page's section: all rendered
    before any is written, so a failure leaves the old ones as they were."""
    options.output_dir.mkdir(parents=True, exist_ok=True)
    options.rendered_dir.mkdir(parents=True, exist_ok=True)
    texts = {options.rendered_dir / "results.md": report.markdown(results)}
    if measured:
        texts[options.output_dir / "results.json"] = json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    if options.writes_page:
        texts[PAGE] = report.splice_page(PAGE.read_text(), report.page_section(results))
        texts[README] = report.splice_page(
            README.read_text(), report.readme_headline(results), report.HEADLINE_START, report.HEADLINE_END
        )
    chart = options.rendered_dir / "results.png"
    report.plot(results, chart.with_suffix(".new.png"))
    chart.with_suffix(".new.png").replace(chart)
    for path, text in texts.items():
        path.write_text(text)
    for path in [chart, *texts]:
        log(f"wrote {path}")


def verdict(results: dict[str, Any]) -> int:
    """0 when the run keeps its promises; else print why and return 1."""
    found = stats.problems(results)
    for problem in found:
        log(f"FAILED: {problem}")
    missed = stats.over_target(results)
    for miss in missed:
        log(f"OVER TARGET: {miss}")
    return 1 if found or missed else 0


def measure_and_write(options: Options) -> int:
    if shutil.which("wrk") is None:
        log("ERROR: wrk is missing; install it (apt-get install -y wrk)")
        return 2
    if options.docker and (reason := docker_ready(measure.BASE_IMAGE)):
        log(f"Image measurements skipped: {reason}")
        options = replace(options, docker=False)
    workdir = Path(tempfile.mkdtemp(prefix="template-bench-"))
    images = measure.Images(tag=str(os.getpid())) if options.docker else None
    server = PostgresServer()  # the example system's database, started for the benchmark, removed after it
    try:
        server.start()
        results = benchmark(options, workdir, images, lambda: server)
    except (BenchError, CommandFailed, subprocess.SubprocessError) as error:
        log(f"\nbenchmark failed: {error}")
        return 1
    finally:
        server.remove()
        if images is not None:
            images.remove_all()
        if options.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    write_outputs(results, options, measured=True)
    log(f"\nDone in {results['meta']['runtime']}.")
    return verdict(results)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    if not options.render:
        return measure_and_write(options)
    saved = options.output_dir / "results.json"
    if not saved.is_file():
        log(f"ERROR: --render needs {saved}; run the benchmark first, or use --output-dir DIR with a results.json")
        return 2
    results = json.loads(saved.read_text())
    write_outputs(results, options, measured=False)
    return verdict(results)
