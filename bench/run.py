"""Benchmark the service this template generates, once per dependency manager (Poetry, pip, uv).

Run it with ``make bench`` (or ``.venv/bin/python bench/run.py [--runs N] [--quick]`` from the repository root).
It writes ``bench/results.md``, ``bench/results.png`` and the raw numbers ``bench/results.json``.

Method
------
For each manager, the example monorepo is generated in a temporary directory, as the test suite does:
``libs/discount_calculator`` (a copy of the shared package) and ``services/order_manager`` generated with the
package by path, for Python 3.12. Every command is the service's own ``make`` verb, run with the environment a
user has: no outer virtualenv, no pip configuration of this machine, the template's tools on PATH.

Each run, managers taking turns so that drift in the machine or the network spreads over all three:

- lock: the lock file(s) removed, ``make lock`` with an empty cache directory (every tool's cache variable
  points into a new empty directory); then the lock removed again and ``make lock`` with the cache the first
  lock left (warm). Without the removal, ``uv lock`` only checks an existing lock and Poetry keeps its pins.
- install: ``.venv`` removed, ``make install`` with an empty cache (cold), then ``.venv`` removed again and
  ``make install`` with the cache the cold install filled (warm).
- image: ``make docker-build`` with ``--no-cache --network host`` (from scratch, the base image present); then
  one line appended to ``src/order_manager/api.py`` and ``make docker-build`` again with the cache (rebuild
  after a code-only change); the runtime image's size minus the size of its ``python:3.12-slim`` base.

Throughput, after the runs, all servers on 127.0.0.1 at once, measured one at a time with the same wrk
parameters, in an order that rotates every round; each round measures every server once:

- the generated service of each manager under ``make serve`` (gunicorn with the service's gunicorn.conf.py);
- ``bench/bare_app.py`` (the same route, nothing else) under the same gunicorn.conf.py: what the service's
  code costs;
- the bare app under a gunicorn command line with the same server settings, read from that gunicorn.conf.py
  (workers, threads, timeouts, keep-alive, preload, worker tmp dir), but gunicorn's default logging: the limit.

The ratio generated/bare is taken per round (the median of the generated services in that round over the bare
server in the same round), and the median over rounds is reported. Figures are medians over runs; every run's
figure is in results.json.

Everything started here is stopped here: servers run in their own process group and are stopped by PID, the
temporary directory is removed, and the images built here are removed, by tag and by the IDs the builds printed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
TOOLS_BIN = Path(sys.executable).parent  # cookiecutter, poetry, uv, pip-compile of the template's .venv
SHARED_PACKAGE_DIR = TEMPLATE_DIR / "libs" / "discount_calculator"
# The environment and process helpers the test suite uses too.
sys.path.insert(0, str(TEMPLATE_DIR / "tests"))
from support import LOCK_FILES, MANAGERS, find_python, free_port, process_group, wait_until_answers  # noqa: E402
from support import clean_environment as user_environment  # noqa: E402

WRK_SCRIPT = BENCH_DIR / "post_order.lua"

PYTHON_VERSION = "3.12"
BASE_IMAGE = f"python:{PYTHON_VERSION}-slim"
SERVICE = "order_manager"
ENV_PREFIX = SERVICE.upper() + "_"
CODE_FILE = Path("src") / SERVICE / "api.py"

# Every cache the three tools use; all point into one directory per measurement.
CACHE_VARIABLES = {
    "POETRY_CACHE_DIR": "poetry",
    "UV_CACHE_DIR": "uv",
    "PIP_CACHE_DIR": "pip",
    "PIP_TOOLS_CACHE_DIR": "pip-tools",
}
COMMAND_TIMEOUT = 900

# Timings per manager, by key: the label of their row and progress line.
TIMINGS = {
    "lock_cold": "lock from scratch (`make lock`), empty cache",
    "lock_warm": "lock from scratch, warm cache",
    "install_cold": "install (`make install`), empty cache",
    "install_warm": "install, warm cache",
    "build": "image build from scratch (`--no-cache`)",
    "rebuild": "image rebuild after a code-only change",
}
LABELS = {**TIMINGS, "image_size_mb": f"runtime image over {BASE_IMAGE}"}
CHART_LABELS = {
    "lock_cold": "lock\nempty cache",
    "lock_warm": "lock\nwarm cache",
    "install_cold": "install\nempty cache",
    "install_warm": "install\nwarm cache",
    "build": "build\nfrom scratch",
    "rebuild": "rebuild after\ncode change",
}
LOCAL_TIMINGS = ("lock_cold", "lock_warm", "install_cold", "install_warm")
IMAGE_TIMINGS = ("build", "rebuild")
GENERATED = "generated"
BARE_CONF = "bare, same gunicorn.conf.py"
BARE_LIMIT = "bare, same server settings, default logging"


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the end of its output."""


@dataclass(frozen=True)
class Options:
    runs: int
    wrk_duration: int
    wrk_threads: int
    wrk_connections: int
    managers: tuple[str, ...]
    docker: bool
    keep: bool
    output_dir: Path


@dataclass
class Service:
    """A generated order_manager in its own monorepo."""

    manager: str
    root: Path

    @property
    def path(self) -> Path:
        return self.root / "services" / SERVICE

    @property
    def image(self) -> str:
        return f"bench-{SERVICE.replace('_', '-')}-{self.manager}:{os.getpid()}"


@dataclass
class Results:
    """Every figure measured, by manager and measurement (lists: one figure per run)."""

    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    throughput: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, manager: str, key: str, value: float) -> None:
        self.samples.setdefault(manager, {}).setdefault(key, []).append(value)

    def median(self, manager: str, key: str) -> float | None:
        values = self.samples.get(manager, {}).get(key)
        return statistics.median(values) if values else None


def log(message: str) -> None:
    print(message, flush=True)


def progress(manager: str, run: str, label: str, figure: str) -> None:
    log(f"  [{manager:<10}] {run:<8} {label:<48} {figure:>16}")


# ---------------------------------------------------------------------------------------------- environment


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell (support.clean_environment), with the template's tools on PATH."""
    environment = user_environment()
    environment["PATH"] = f"{TOOLS_BIN}{os.pathsep}{environment.get('PATH', '')}"
    environment.update(extra or {})
    return environment


def cache_environment(cache_dir: Path) -> dict[str, str]:
    return {variable: str(cache_dir / name) for variable, name in CACHE_VARIABLES.items()}


def python_executable(version: str) -> str:
    found = find_python(version)
    if found is None:
        raise BenchError(f"no working python{version} found (on PATH or under ~/.pyenv)")
    return found


def run(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run ``command``; return its output (stdout and stderr together); raise BenchError when it fails."""
    result = subprocess.run(
        list(command),
        cwd=cwd,
        env=clean_environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"`{' '.join(command)}` failed in {cwd} ({result.returncode}):\n{result.stdout[-4000:]}")
    return result.stdout


def timed(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    output = run(command, cwd, env)
    return time.perf_counter() - start, output


def first_line(command: Sequence[str]) -> str:
    """First line of a version command's output, or "unknown" (wrk -v exits 1 after printing its version)."""
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, check=False, env=clean_environment())
    except OSError:
        return "unknown"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    os_name = platform.system()
    os_release = Path("/etc/os-release")
    if os_release.exists():
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{os_name}, Linux {platform.release()}",
        "load_average_start": round(os.getloadavg()[0], 2),
    }


def tool_versions(python: str, docker: bool) -> dict[str, str]:
    versions = {
        "poetry": first_line([str(TOOLS_BIN / "poetry"), "--version"]),
        "uv": first_line([str(TOOLS_BIN / "uv"), "--version"]),
        "pip-tools": first_line([str(TOOLS_BIN / "pip-compile"), "--version"]),
        "pip (Python 3.12)": first_line([python, "-m", "pip", "--version"]).split(" from ")[0],
        "cookiecutter": first_line([str(TOOLS_BIN / "cookiecutter"), "--version"]).split(" from ")[0],
        "CPython": first_line([python, "--version"]),
        "wrk": first_line(["wrk", "-v"]).split(" [")[0],
    }
    if docker:
        versions["Docker engine"] = first_line(["docker", "version", "--format", "{{.Server.Version}}"])
    return versions


def installed_versions(service: Service) -> dict[str, str]:
    """Versions of the serving stack in a service's .venv."""
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({n: m.version(n) for n in ('flask', 'werkzeug', 'gunicorn')}))"
    )
    return dict(json.loads(run([str(service.path / ".venv" / "bin" / "python"), "-c", code], service.path)))


def docker_ready() -> str | None:
    """None when the Docker engine answers and the base image is here, else why not."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the Docker engine does not answer (scripts/docker-engine starts one)"
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, check=False).returncode != 0:
        return f"{BASE_IMAGE} is missing (scripts/docker-base-images {PYTHON_VERSION} provides it)"
    return None


# ---------------------------------------------------------------------------------------------- generation


def generate(manager: str, root: Path) -> Service:
    """The example monorepo for ``manager``: the shared package by path and order_manager, not locked yet."""
    shutil.copytree(
        SHARED_PACKAGE_DIR, root / "libs" / "discount_calculator", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "services").mkdir(parents=True)
    answers = {
        "service_name": SERVICE,
        "dependency_manager": manager,
        "python_version": PYTHON_VERSION,
        "use_discount_calculator": "yes",
        "discount_calculator_path": "../../libs/discount_calculator",
        "_lock_dependencies": "no",  # `make lock` is measured below
    }
    command = [str(TOOLS_BIN / "cookiecutter"), "--no-input", str(TEMPLATE_DIR), "--output-dir", "services"]
    run(command + [f"{key}={value}" for key, value in answers.items()], root)
    return Service(manager=manager, root=root)


# ---------------------------------------------------------------------------------------------- measurements


def make(service: Service, *targets: str, env: Mapping[str, str] | None = None, **variables: str) -> tuple[float, str]:
    command = ["make", *targets, *(f"{key}={value}" for key, value in variables.items())]
    return timed(command, service.path, env)


def fresh_cache(service: Service, name: str) -> Path:
    cache = service.root / "caches" / name
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    return cache


def measure_lock(service: Service, python: str, run_index: int) -> dict[str, float]:
    """Resolve from scratch twice: with an empty cache, then with the cache the first lock left."""
    env = cache_environment(fresh_cache(service, f"lock-{run_index}"))
    figures = {}
    for key in ("lock_cold", "lock_warm"):
        # Without its lock file a tool resolves everything; with one, uv only checks it and Poetry keeps its pins.
        for name in LOCK_FILES[service.manager]:
            (service.path / name).unlink(missing_ok=True)
        figures[key], _ = make(service, "lock", env=env, PYTHON=python)
    shutil.rmtree(service.root / "caches" / f"lock-{run_index}")
    return figures


def measure_install(service: Service, python: str, run_index: int) -> dict[str, float]:
    env = cache_environment(fresh_cache(service, f"install-{run_index}"))
    figures = {}
    for key in ("install_cold", "install_warm"):
        shutil.rmtree(service.path / ".venv", ignore_errors=True)
        figures[key], _ = make(service, "install", env=env, PYTHON=python)
    shutil.rmtree(service.root / "caches" / f"install-{run_index}")
    return figures


class Images:
    """The images this benchmark built: removed at the end by tag and by the layer IDs the builds printed."""

    def __init__(self) -> None:
        self.tags: set[str] = set()
        self.ids: list[str] = []

    def record(self, tag: str, build_output: str) -> None:
        self.tags.add(tag)
        self.ids.extend(created_image_ids(build_output))

    def remove_all(self) -> None:
        for name in [*sorted(self.tags), *reversed(self.ids)]:
            # Without --force: an image another build depends on, or one already pruned, stays as it is.
            subprocess.run(["docker", "rmi", name], capture_output=True, check=False)
        self.tags.clear()
        self.ids.clear()


@dataclass
class BuildStep:
    instruction: str
    cached: bool = False
    image_id: str | None = None


def build_steps(output: str) -> list[BuildStep]:
    """The steps of a classic-builder ``docker build`` output: instruction, cache hit, resulting image ID."""
    steps: list[BuildStep] = []
    for line in output.splitlines():
        if match := re.match(r"Step \d+/\d+ : (\S+)", line):
            steps.append(BuildStep(instruction=match.group(1).upper()))
        elif steps and line.strip() == "---> Using cache":
            steps[-1].cached = True
        elif steps and (match := re.fullmatch(r" ---> ([0-9a-f]{12})", line)):
            steps[-1].image_id = match.group(1)
    return steps


def created_image_ids(output: str) -> list[str]:
    """IDs a build created: never a base image (a FROM step) nor a layer it took from the cache."""
    return [
        step.image_id
        for step in build_steps(output)
        if step.image_id and not step.cached and step.instruction != "FROM"
    ]


def image_size(image: str) -> int:
    output = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", image], capture_output=True, text=True, check=True
    ).stdout
    return int(output.strip())


def measure_images(service: Service, python: str, images: Images, results: Results, run_label: str) -> None:
    """Build from scratch, measure the image, change the code only, rebuild with the cache."""
    build_flags = "--network host --no-cache"
    build, output = make(service, "docker-build", PYTHON=python, IMAGE=service.image, DOCKER_BUILD_FLAGS=build_flags)
    images.record(service.image, output)
    record(results, service.manager, run_label, "build", build)
    size = (image_size(service.image) - image_size(BASE_IMAGE)) / 1e6
    record(results, service.manager, run_label, "image_size_mb", size)

    with (service.path / CODE_FILE).open("a") as code:
        code.write(f"# bench: a code-only change ({run_label})\n")
    flags = "--network host"
    rebuild, output = make(service, "docker-build", PYTHON=python, IMAGE=service.image, DOCKER_BUILD_FLAGS=flags)
    images.record(service.image, output)
    record(results, service.manager, run_label, "rebuild", rebuild)
    rerun = sum(1 for step in build_steps(output) if step.instruction == "RUN" and not step.cached)
    if rerun:
        results.notes.append(f"{service.manager}, {run_label}: the code-only change re-ran {rerun} RUN step(s)")


def record(results: Results, manager: str, run_label: str, key: str, value: float) -> None:
    """Keep one figure and print it."""
    results.add(manager, key, value)
    figure = f"{value:.1f} MB" if key == "image_size_mb" else f"{value:.2f} s"
    progress(manager, run_label, LABELS[key], figure)


def measure_run(service: Service, python: str, images: Images | None, results: Results, index: int) -> None:
    """One run of every timing for one manager."""
    run_label = f"run {index + 1}"
    for step in (measure_lock, measure_install):
        for key, value in step(service, python, index).items():
            record(results, service.manager, run_label, key, value)
    if images is not None:
        measure_images(service, python, images, results, run_label)


# ---------------------------------------------------------------------------------------------- throughput


@dataclass(frozen=True)
class Server:
    name: str
    url: str


@contextmanager
def serving(
    name: str, command: Sequence[str], cwd: Path, port: int, env: Mapping[str, str], log_path: Path
) -> Iterator[Server]:
    """Start ``command`` in its own process group; yield once it answers HTTP; stop that group by PID."""
    with log_path.open("wb") as log_file, process_group(command, cwd, clean_environment(env), log_file) as process:
        base_url = f"http://127.0.0.1:{port}"
        try:
            # The bare app has no /healthz: any HTTP answer, a 404 included, means it is up.
            wait_until_answers(base_url + "/healthz", process)
        except RuntimeError as error:
            raise BenchError(str(error)) from None
        yield Server(name=name, url=f"{base_url}/api/order")


def check_order(server: Server) -> None:
    """One order, as wrk sends it: the answer must be 201 with the message of the generated service."""
    request = urllib.request.Request(
        server.url, data=b'{"item": "book", "quantity": 1}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
        if response.status != 201 or not str(body.get("message", "")).startswith("Order created"):
            raise BenchError(f"{server.name}: unexpected answer {response.status} {body}")


def gunicorn_server_settings(service: Service, env: Mapping[str, str]) -> dict[str, Any]:
    """The server settings the service's gunicorn.conf.py gives, read by executing it in the service's .venv."""
    keys = ("workers", "threads", "timeout", "graceful_timeout", "keepalive", "preload_app", "worker_tmp_dir")
    code = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        f"print(json.dumps({{k: c.get(k) for k in {keys!r}}}))"
    )
    output = run([str(service.path / ".venv" / "bin" / "python"), "-c", code], service.path, env)
    return dict(json.loads(output.strip().splitlines()[-1]))


def plain_gunicorn_arguments(settings: Mapping[str, Any]) -> list[str]:
    """A gunicorn command line with those server settings and nothing else (gunicorn's own logging)."""
    arguments = [
        f"--workers={settings['workers']}",
        f"--threads={settings['threads']}",
        f"--timeout={settings['timeout']}",
        f"--graceful-timeout={settings['graceful_timeout']}",
        f"--keep-alive={settings['keepalive']}",
    ]
    if settings["preload_app"]:
        arguments.append("--preload")
    if settings["worker_tmp_dir"]:
        arguments.append(f"--worker-tmp-dir={settings['worker_tmp_dir']}")
    return arguments


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p99_ms: float
    errors: int


def run_wrk(server: Server, options: Options, duration: int | None = None) -> WrkResult:
    command = [
        "wrk",
        f"--threads={options.wrk_threads}",
        f"--connections={options.wrk_connections}",
        f"--duration={duration or options.wrk_duration}s",
        "--timeout=5s",
        f"--script={WRK_SCRIPT}",
        server.url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    summary = json.loads(output.strip().splitlines()[-1])
    return WrkResult(
        requests_per_second=summary["requests"] / (summary["duration_us"] / 1e6),
        p99_ms=summary["p99_us"] / 1000,
        errors=summary["errors"] + summary["non_2xx"],
    )


def start_servers(stack: ExitStack, services: Sequence[Service], logs: Path) -> list[Server]:
    """The generated services under `make serve`, then the bare app twice, from the last service's .venv."""
    servers = []
    for service in services:
        port = free_port()
        env = {f"{ENV_PREFIX}HOST": "127.0.0.1", f"{ENV_PREFIX}PORT": str(port)}
        name = f"{GENERATED}: {service.manager}"
        servers.append(
            stack.enter_context(
                serving(name, ["make", "serve"], service.path, port, env, logs / f"{service.manager}.log")
            )
        )

    reference = services[-1]
    gunicorn = str(reference.path / ".venv" / "bin" / "gunicorn")
    bare = ["--pythonpath", str(BENCH_DIR), "bare_app:app"]
    port = free_port()
    env = {f"{ENV_PREFIX}HOST": "127.0.0.1", f"{ENV_PREFIX}PORT": str(port)}
    command = [gunicorn, "--config", "gunicorn.conf.py", *bare]
    servers.append(stack.enter_context(serving(BARE_CONF, command, reference.path, port, env, logs / "bare-conf.log")))

    settings = gunicorn_server_settings(reference, env)
    port = free_port()
    # --config /dev/null: no gunicorn.conf.py at all (gunicorn would read one from the working directory).
    command = [gunicorn, "--config", os.devnull, f"--bind=127.0.0.1:{port}", *plain_gunicorn_arguments(settings), *bare]
    servers.append(stack.enter_context(serving(BARE_LIMIT, command, reference.path, port, {}, logs / "bare-plain.log")))
    return servers


def measure_throughput(services: Sequence[Service], options: Options, results: Results, logs: Path) -> None:
    log(
        f"\nThroughput: wrk --threads={options.wrk_threads} --connections={options.wrk_connections} "
        f"--duration={options.wrk_duration}s, POST /api/order on 127.0.0.1, {options.runs} rounds"
    )
    with ExitStack() as stack:
        servers = start_servers(stack, services, logs)
        for server in servers:
            check_order(server)
            run_wrk(server, options, duration=2)  # warm-up, not recorded
        for round_index in range(options.runs):
            shift = round_index % len(servers)
            for server in servers[shift:] + servers[:shift]:
                result = run_wrk(server, options)
                if result.errors:
                    results.notes.append(f"{server.name}, round {round_index + 1}: {result.errors} failed requests")
                results.throughput.setdefault(server.name, []).append(
                    {"round": round_index, "rps": result.requests_per_second, "p99_ms": result.p99_ms}
                )
                generated = server.name.startswith(GENERATED)
                tag, kind = (
                    (server.name.split(": ")[1], "generated, make serve") if generated else ("bare", server.name)
                )
                figure = f"{result.requests_per_second:,.0f}/s, p99 {result.p99_ms:.1f} ms"
                progress(tag, f"round {round_index + 1}", kind, figure)


def throughput_summary(results: Results) -> dict[str, Any]:
    """Medians per server, and the per-round ratios of the generated services to each bare server."""
    by_round: dict[int, dict[str, list[float]]] = {}
    for name, samples in results.throughput.items():
        kind = GENERATED if name.startswith(GENERATED) else name
        for sample in samples:
            by_round.setdefault(int(sample["round"]), {}).setdefault(kind, []).append(sample["rps"])
    ratios = {
        bare: [statistics.median(r[GENERATED]) / statistics.median(r[bare]) for r in by_round.values() if bare in r]
        for bare in (BARE_CONF, BARE_LIMIT)
    }
    config_cost = [r[BARE_CONF][0] / r[BARE_LIMIT][0] for r in by_round.values() if BARE_CONF in r and BARE_LIMIT in r]
    generated = [s for name, samples in results.throughput.items() if name.startswith(GENERATED) for s in samples]
    servers = {GENERATED: generated} | {name: results.throughput.get(name, []) for name in (BARE_CONF, BARE_LIMIT)}
    return {
        "servers": {
            name: {
                "rps": statistics.median(s["rps"] for s in samples),
                "p99_ms": statistics.median(s["p99_ms"] for s in samples),
            }
            for name, samples in servers.items()
            if samples
        },
        "ratio_generated_over": {bare: statistics.median(values) for bare, values in ratios.items() if values},
        "ratio_per_round": ratios,
        # What the service's gunicorn.conf.py costs by itself (its logging): the bare app under it over the limit.
        "ratio_bare_conf_over_limit": statistics.median(config_cost) if config_cost else None,
    }


# ---------------------------------------------------------------------------------------------- outputs


def summarise(results: Results, options: Options) -> dict[str, dict[str, float | None]]:
    """Medians per manager: timings, image size, and the throughput of its generated service."""
    medians: dict[str, dict[str, float | None]] = {}
    for manager in options.managers:
        row = {key: results.median(manager, key) for key in (*TIMINGS, "image_size_mb")}
        samples = results.throughput.get(f"{GENERATED}: {manager}", [])
        row["rps"] = statistics.median(s["rps"] for s in samples) if samples else None
        row["p99_ms"] = statistics.median(s["p99_ms"] for s in samples) if samples else None
        medians[manager] = row
    return medians


def version_number(text: str) -> str:
    match = re.search(r"\d+(\.\d+)+", text)
    return match.group(0) if match else text


def cell(value: float | None, unit: str, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return f"{value:.{digits}f} {unit}"


def markdown(report: Mapping[str, Any], options: Options) -> str:
    meta, medians, throughput = report["meta"], report["medians"], report["throughput"]
    managers = options.managers
    versions = " · ".join(f"{name} {version_number(version)}" for name, version in meta["tools"].items())
    stack = " · ".join(f"{name} {version}" for name, version in meta["serving_stack"].items())
    lines = [
        "# Benchmark: the generated service by dependency manager",
        "",
        f"{meta['date']} · {meta['machine']['cpu']}, {meta['machine']['cores']} cores · {meta['machine']['os']} · "
        f"load average {meta['machine']['load_average_start']} at start, {meta['machine']['load_average_end']} at end",
        "",
        f"Tools: {versions} · serving: {stack}",
        "",
        f"`order_manager` with the shared `discount-calculator` by path (the example monorepo), Python "
        f"{PYTHON_VERSION}. Median of {options.runs} run(s); every run is in `results.json`. "
        f"The benchmark took {meta['runtime']} (`make bench`, `bench/run.py`).",
        "",
        "| measurement | " + " | ".join(managers) + " |",
        "| --- | " + " | ".join("---:" for _ in managers) + " |",
    ]
    rows = [(label, key, "s", 1 if key in IMAGE_TIMINGS else 2) for key, label in TIMINGS.items()]
    rows += [
        (f"runtime image over `{BASE_IMAGE}`", "image_size_mb", "MB", 1),
        ("throughput, `POST /api/order` (`make serve`)", "rps", "req/s", 0),
        ("p99 latency at that load", "p99_ms", "ms", 1),
    ]
    for label, key, unit, digits in rows:
        lines.append(f"| {label} | " + " | ".join(cell(medians[m][key], unit, digits) for m in managers) + " |")

    servers, ratios = throughput["servers"], throughput["ratio_generated_over"]
    lines += [
        "",
        "## Throughput against the limit",
        "",
        f"wrk `--threads={options.wrk_threads} --connections={options.wrk_connections} "
        f"--duration={options.wrk_duration}s`, `POST /api/order` with a JSON body, 127.0.0.1, {options.runs} "
        "round(s), every server once per round in rotating order. The same gunicorn server settings for all: "
        f"{meta['gunicorn']}.",
        "",
        "| server | requests/s | p99 latency | generated / this |",
        "| --- | ---: | ---: | ---: |",
    ]
    descriptions = {
        GENERATED: f"generated service, `make serve` ({', '.join(managers)}, pooled)",
        BARE_CONF: "bare Flask app (`bench/bare_app.py`), the service's `gunicorn.conf.py`",
        BARE_LIMIT: (
            "bare Flask app, same server settings on the command line, gunicorn's default logging (no access log): "
            "the limit"
        ),
    }
    for name, description in descriptions.items():
        if name in servers:
            ratio = f"**{ratios[name]:.2f}**" if name in ratios else ""
            lines.append(
                f"| {description} | {cell(servers[name]['rps'], 'req/s')} | {cell(servers[name]['p99_ms'], 'ms')} "
                f"| {ratio} |"
            )
    lines += [
        "",
        "Ratio: per round, the median of the generated services over the bare server of the same round; the "
        "median over rounds. Target: at least 0.9.",
    ]
    config_cost = throughput.get("ratio_bare_conf_over_limit")
    if config_cost is not None and BARE_CONF in ratios:
        lines += [
            "",
            f"Where the difference goes: the bare app under the service's `gunicorn.conf.py` reaches {config_cost:.2f} "
            "of the limit (the cost of the configuration itself: its logging setup; the access log is off unless "
            "switched on); the "
            f"generated service reaches {ratios[BARE_CONF]:.2f} of the bare app under the same configuration (the "
            "cost of the service's own code).",
        ]
    if report["notes"]:
        lines += ["", "Notes:", "", *(f"- {note}" for note in report["notes"])]
    return "\n".join(lines) + "\n"


def plot(report: Mapping[str, Any], options: Options, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    managers = options.managers
    colors = {"poetry": "#3b6fb6", "pip": "#e0a030", "uv": "#6a4c93"}
    samples = report["samples"]
    figure, axes = plt.subplots(2, 2, figsize=(13, 9), gridspec_kw={"width_ratios": [2, 1.3]})
    figure.suptitle(
        f"Generated order_manager by dependency manager: medians of {options.runs} run(s), bars min-max\n"
        f"{report['meta']['machine']['cpu']}, {report['meta']['machine']['cores']} cores, {report['meta']['date']}",
        fontsize=11,
    )

    def grouped(axis: Any, keys: Sequence[str], unit: str, title: str) -> None:
        width = 0.8 / len(managers)
        for offset, manager in enumerate(managers):
            values = [samples.get(manager, {}).get(key, []) for key in keys]
            medians = [statistics.median(v) if v else 0 for v in values]
            low = [m - min(v) if v else 0 for m, v in zip(medians, values, strict=True)]
            high = [max(v) - m if v else 0 for m, v in zip(medians, values, strict=True)]
            positions = [i + (offset - (len(managers) - 1) / 2) * width for i in range(len(keys))]
            bars = axis.bar(
                positions, medians, width, yerr=[low, high], capsize=3, label=manager, color=colors.get(manager)
            )
            axis.bar_label(bars, labels=[f"{m:.2f}" if m < 1 else f"{m:.1f}" for m in medians], fontsize=7, padding=2)
        axis.set_xticks(range(len(keys)), [CHART_LABELS[k] for k in keys], fontsize=8)
        axis.set_ylabel(unit)
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=8)
        axis.margins(y=0.15)

    grouped(axes[0][0], LOCAL_TIMINGS, "seconds", "Lock and install (make lock, make install)")
    if options.docker:
        grouped(axes[0][1], IMAGE_TIMINGS, "seconds", "Image build (make docker-build)")
        sizes = [report["medians"][m]["image_size_mb"] or 0 for m in managers]
        bars = axes[1][1].bar(managers, sizes, color=[colors.get(m) for m in managers])
        axes[1][1].bar_label(bars, labels=[f"{s:.1f} MB" for s in sizes], fontsize=8)
        axes[1][1].set_title(f"Runtime image over {BASE_IMAGE}", fontsize=10)
        axes[1][1].set_ylabel("MB")
        axes[1][1].margins(y=0.15)
    else:
        for axis in (axes[0][1], axes[1][1]):
            axis.set_axis_off()
    throughput_panel(axes[1][0], report, options, colors)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def throughput_panel(axis: Any, report: Mapping[str, Any], options: Options, colors: Mapping[str, str]) -> None:
    names = [f"{GENERATED}: {m}" for m in options.managers] + [BARE_CONF, BARE_LIMIT]
    samples = [report["throughput_samples"].get(name, []) for name in names]
    rps = [statistics.median(s["rps"] for s in runs) if runs else 0 for runs in samples]
    p99 = [statistics.median(s["p99_ms"] for s in runs) if runs else 0 for runs in samples]
    labels = [f"generated\n{m}" for m in options.managers] + ["bare,\nsame conf", "bare,\nno access log"]
    bar_colors = [colors.get(m, "grey") for m in options.managers] + ["#8a8a8a", "#4d4d4d"]
    bars = axis.bar(labels, rps, color=bar_colors)
    axis.bar_label(bars, labels=[f"{r:,.0f}\np99 {p:.1f} ms" for r, p in zip(rps, p99, strict=True)], fontsize=7)
    ratio = report["throughput"]["ratio_generated_over"].get(BARE_LIMIT)
    title = "Throughput, POST /api/order (gunicorn, same server settings)"
    if ratio is not None:
        axis.axhline(0.9 * rps[-1], color="#c0392b", linestyle="--", linewidth=1, label="90% of the limit")
        axis.legend(fontsize=8, loc="lower left")
        title += f"\ngenerated / limit = {ratio:.2f}"
    axis.set_title(title, fontsize=10)
    axis.set_ylabel("requests/s")
    axis.tick_params(axis="x", labelsize=8)
    axis.margins(y=0.2)


def write_outputs(report: dict[str, Any], options: Options) -> None:
    options.output_dir.mkdir(parents=True, exist_ok=True)
    (options.output_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (options.output_dir / "results.md").write_text(markdown(report, options))
    plot(report, options, options.output_dir / "results.png")
    for name in ("results.md", "results.png", "results.json"):
        log(f"wrote {options.output_dir / name}")


# ---------------------------------------------------------------------------------------------- main


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run and 5-second wrk runs: a smoke test")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--managers", default=",".join(MANAGERS), help="comma-separated subset of poetry,pip,uv")
    parser.add_argument("--no-docker", action="store_true", help="skip the image measurements")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (its path is printed)")
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR, help="where results.* go (default bench/)")
    args = parser.parse_args(argv)
    managers = tuple(m.strip() for m in args.managers.split(",") if m.strip())
    if not managers or set(managers) - set(MANAGERS):
        parser.error(f"--managers takes a subset of {','.join(MANAGERS)}")
    if args.runs < 1 or args.duration < 1:
        parser.error("--runs and --duration must be at least 1")
    return Options(
        runs=1 if args.quick else args.runs,
        wrk_duration=5 if args.quick else args.duration,
        wrk_threads=args.threads,
        wrk_connections=args.connections,
        managers=managers,
        docker=not args.no_docker,
        keep=args.keep,
        output_dir=args.output_dir,
    )


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


def benchmark(options: Options, workdir: Path, images: Images) -> dict[str, Any]:
    started = time.perf_counter()
    python = python_executable(PYTHON_VERSION)
    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
        "tools": tool_versions(python, options.docker),
    }
    log(f"Generating the example monorepo for {', '.join(options.managers)} in {workdir}")
    services = [generate(manager, workdir / manager) for manager in options.managers]

    results = Results()
    for index in range(options.runs):
        log(f"\nRun {index + 1}/{options.runs}")
        for service in services:
            measure_run(service, python, images if options.docker else None, results, index)
        if options.docker:
            images.remove_all()  # one run's images at a time on disk

    measure_throughput(services, options, results, workdir)
    meta["serving_stack"] = installed_versions(services[-1])
    meta["serving_stack_by_manager"] = {s.manager: installed_versions(s) for s in services}
    meta["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    settings = gunicorn_server_settings(services[-1], {})
    meta["gunicorn"] = f"{settings['workers']} workers x {settings['threads']} thread(s)" + (
        " (sync worker)" if settings["threads"] == 1 else ""
    )
    meta["runtime_seconds"] = round(time.perf_counter() - started, 1)
    meta["runtime"] = format_duration(meta["runtime_seconds"])
    if not options.docker:
        results.notes.append("image measurements skipped (--no-docker)")
    return {
        "meta": meta,
        "settings": {
            "runs": options.runs,
            "wrk": {
                "threads": options.wrk_threads,
                "connections": options.wrk_connections,
                "duration_s": options.wrk_duration,
            },
            "managers": list(options.managers),
        },
        "medians": summarise(results, options),
        "throughput": throughput_summary(results),
        "samples": results.samples,
        "throughput_samples": results.throughput,
        "notes": results.notes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    if options.docker and (reason := docker_ready()):
        log(f"Image measurements skipped: {reason}")
        options = replace(options, docker=False)
    if shutil.which("wrk") is None:
        log("wrk is missing: apt-get install -y wrk")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="template-bench-"))
    images = Images()
    try:
        report = benchmark(options, workdir, images)
    except (BenchError, subprocess.SubprocessError) as error:
        log(f"\nbenchmark failed: {error}")
        return 1
    finally:
        if options.docker:
            images.remove_all()
        if options.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    write_outputs(report, options)
    log(f"\nDone in {report['meta']['runtime']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
