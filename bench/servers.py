"""The servers whose throughput is measured, described by data: ``SERVERS``.

Each ``ServerSpec`` says what a server is (its key, its kind, its labels), how it is started (``command`` and
``env``, functions of the ``Place`` it runs in) and, for a server the generated service is held against, the
least ratio generated/this the benchmark accepts (``target``). Servers of kind ``generated`` run once per
manager and are pooled as the numerator of every ratio; every other server runs once, from the last manager's
service directory and .venv. A new row is one more entry (``metrics-off`` below was added that way). A row
whose server needs the service generated with other answers names a ``variant`` (``VARIANTS``): that service is
generated, locked and installed once, with the last manager, and the row runs from it.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import SERVICE, Service
from bench.stats import GENERATED
from bench.system import BENCH_DIR, BenchError, clean_environment, run
from kit.serving import free_port, running

REFERENCE = "reference"
ENV_PREFIX = SERVICE.upper() + "_"
# The least ratio generated/bare under the same gunicorn.conf.py: the service's code (validation, request metrics,
# its session and pool, the answer's model) may cost at most 10 % of a bare Flask + SQLAlchemy app doing the same
# insert into the same table of the same PostgreSQL.
TARGET_RATIO = 0.9
# Services generated with other answers than the example's, for the rows that need them and for their image sizes.
VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "traced": {"use_opentelemetry": True},
    "sqlite": {"database": "sqlite"},
    "no-database": {"database": "none"},
}


@dataclass(frozen=True)
class Place:
    """Where a server runs: the generated service (its directory and .venv), its port, its gunicorn settings."""

    service: Service
    port: int
    server_settings: Mapping[str, Any]
    otlp_endpoint: str  # the benchmark's OTLP/HTTP receiver

    @property
    def bare_app(self) -> list[str]:
        return ["--pythonpath", str(BENCH_DIR), "bare_app:app"]

    def tool(self, name: str) -> str:
        return str(self.service.venv_bin / name)


@dataclass(frozen=True)
class ServerSpec:
    key: str
    kind: str  # GENERATED (one per manager, pooled) or REFERENCE (one)
    label: str  # its row in the report (short: the table stays within 120 columns)
    description: str  # what it is, under the table
    chart_label: str
    command: Callable[[Place], list[str]]
    env: Callable[[Place], dict[str, str]] = lambda place: {}  # settings in the environment, none by default
    target: float | None = None  # least generated/this ratio accepted
    variant: str | None = None  # a key of VARIANTS: runs from that service instead of the example's
    exports_spans: bool = False  # its spans must reach the benchmark's receiver, or the run fails
    slow_clients: bool = False  # measured under slow clients too (for the generated kind: one manager's)


def service_address(place: Place) -> dict[str, str]:
    """The generated service's own settings for host and port (read by gunicorn.conf.py), and its database."""
    return {**place.service.environment, f"{ENV_PREFIX}HOST": "127.0.0.1", f"{ENV_PREFIX}PORT": str(place.port)}


def make_serve(place: Place) -> list[str]:
    """The generated service's own way to run under gunicorn."""
    return ["make", "serve"]


SERVERS = (
    ServerSpec(
        key=GENERATED,
        kind=GENERATED,
        label="generated, `make serve`",
        description="generated, `make serve`: the example's order_manager, storing each order in PostgreSQL, under "
        "gunicorn with its own `gunicorn.conf.py`, "
        "once per dependency manager.",
        chart_label="generated",
        command=make_serve,
        env=service_address,
        slow_clients=True,
    ),
    ServerSpec(
        key="sync",
        kind=REFERENCE,
        label="generated, sync worker (before)",
        description="sync worker: the generated service under `make serve` with gunicorn's sync worker "
        "(`GUNICORN_CMD_ARGS=--worker-class=sync`), the server it had before: each worker serves one request at a "
        "time, start to end.",
        chart_label="generated,\nsync worker",
        command=make_serve,
        env=lambda place: {**service_address(place), "GUNICORN_CMD_ARGS": "--worker-class=sync"},
        slow_clients=True,
    ),
    ServerSpec(
        key="bare-conf",
        kind=REFERENCE,
        label="bare app, same insert, same `gunicorn.conf.py`",
        description="bare app: `bench/bare_app.py`, Flask and SQLAlchemy inserting the same row into the same table "
        "of the same PostgreSQL and answering alike, nothing else, under the service's `gunicorn.conf.py`; the ratio "
        "to it is the cost of the service's own code.",
        chart_label="bare,\nsame conf",
        command=lambda place: [place.tool("gunicorn"), "--config", "gunicorn.conf.py", *place.bare_app],
        env=service_address,
        target=TARGET_RATIO,
    ),
    ServerSpec(
        key="bare-limit",
        kind=REFERENCE,
        label="bare app, plain gunicorn: the limit",
        description="plain gunicorn: the bare app, the same server settings on the command line (gunicorn's own "
        "gevent worker), no configuration file, gunicorn's default logging.",
        chart_label="bare,\nplain gunicorn",
        env=lambda place: dict(place.service.environment),
        # --config /dev/null: no gunicorn.conf.py at all (gunicorn would read one from the working directory).
        command=lambda place: [
            place.tool("gunicorn"),
            "--config",
            os.devnull,
            f"--bind=127.0.0.1:{place.port}",
            *plain_gunicorn_arguments(place.server_settings),
            *place.bare_app,
        ],
    ),
    ServerSpec(
        key="metrics-off",
        kind=REFERENCE,
        label="generated, metrics off",
        description="metrics off: the generated service under `make serve` with `ORDER_MANAGER_METRICS=false`; the "
        "ratio to it is what the request metrics cost.",
        chart_label="generated,\nmetrics off",
        command=make_serve,
        env=lambda place: {**service_address(place), f"{ENV_PREFIX}METRICS": "false"},
    ),
    ServerSpec(
        key="traced-off",
        kind=REFERENCE,
        label="traced, sampler off",
        description="traced, sampler off: the service generated with `use_opentelemetry=yes`, under `make serve` with "
        "`OTEL_TRACES_SAMPLER=always_off`; the ratio to it is what the instrumentation costs when nothing is sampled.",
        chart_label="traced,\nsampler off",
        command=make_serve,
        env=lambda place: {**service_address(place), "OTEL_TRACES_SAMPLER": "always_off"},
        variant="traced",
    ),
    ServerSpec(
        key="traced-on",
        kind=REFERENCE,
        label="traced, every request sampled",
        description="every request sampled: the same with `OTEL_TRACES_SAMPLER=always_on`, each span exported over "
        "OTLP/HTTP to a receiver in the benchmark's process on 127.0.0.1; the ratio to it is what tracing every "
        "request costs.",
        chart_label="traced,\nall sampled",
        command=make_serve,
        env=lambda place: {
            **service_address(place),
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_EXPORTER_OTLP_ENDPOINT": place.otlp_endpoint,
        },
        variant="traced",
        exports_spans=True,
    ),
    ServerSpec(
        key="flask-run",
        kind=REFERENCE,
        label="generated, `flask run`",
        description="`flask run`: the generated service under Flask's development server (threaded, no debug), "
        "as the seed article's Dockerfiles serve it; the ratio to it is what the generated gunicorn setup is worth.",
        chart_label="generated,\nflask run",
        env=lambda place: dict(place.service.environment),
        command=lambda place: [
            place.tool("flask"),
            "--app",
            f"{SERVICE}.core.wsgi:app",
            "run",
            "--host=127.0.0.1",
            f"--port={place.port}",
        ],
    ),
)


@dataclass(frozen=True)
class Server:
    """A running server: the spec it came from, the manager whose service it serves, its URL."""

    spec: ServerSpec
    manager: str
    url: str
    pid: int = 0  # the process the server was started as (`make`, or the server itself)

    @property
    def key(self) -> str:
        return f"{self.spec.key}:{self.manager}" if self.spec.kind == GENERATED else self.spec.key

    def describe(self) -> dict[str, Any]:
        """The server as results.json records it, so the report needs nothing but that file."""
        label = f"{self.spec.label}, {self.manager}" if self.spec.kind == GENERATED else self.spec.label
        chart = f"{self.spec.chart_label}\n{self.manager}" if self.spec.kind == GENERATED else self.spec.chart_label
        return {
            "key": self.key,
            "kind": self.spec.kind,
            "manager": self.manager,
            "label": label,
            "description": self.spec.description,
            "chart_label": chart,
            "target": self.spec.target,
        }


def gunicorn_server_settings(service: Service) -> dict[str, Any]:
    """The server settings the service's gunicorn.conf.py gives, read by executing it in the service's .venv."""
    keys = (
        "workers",
        "worker_connections",
        "timeout",
        "graceful_timeout",
        "keepalive",
        "preload_app",
        "worker_tmp_dir",
    )
    code = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        f"print(json.dumps({{k: c.get(k) for k in {keys!r}}}))"
    )
    # With metrics on, reading the file would make a metrics directory that only a running gunicorn removes.
    env = {**service.environment, f"{ENV_PREFIX}METRICS": "false"}
    output = run([str(service.venv_bin / "python"), "-c", code], service.path, env)
    return dict(json.loads(output.strip().splitlines()[-1]))


def plain_gunicorn_arguments(settings: Mapping[str, Any]) -> list[str]:
    """A gunicorn command line with those server settings and nothing else (gunicorn's own logging)."""
    arguments = [
        f"--workers={settings['workers']}",
        "--worker-class=gevent",
        f"--worker-connections={settings['worker_connections']}",
        f"--timeout={settings['timeout']}",
        f"--graceful-timeout={settings['graceful_timeout']}",
        f"--keep-alive={settings['keepalive']}",
    ]
    if settings["preload_app"]:
        arguments.append("--preload")
    if settings["worker_tmp_dir"]:
        arguments.append(f"--worker-tmp-dir={settings['worker_tmp_dir']}")
    return arguments


def describe_settings(settings: Mapping[str, Any]) -> str:
    return f"{settings['workers']} gevent workers x {settings['worker_connections']} connections"


@contextmanager
def serving(spec: ServerSpec, place: Place, log_path: Path) -> Iterator[Server]:
    """Start a server in its own process group; yield once it answers HTTP; stop that group by PID."""
    env = clean_environment(spec.env(place))
    with ExitStack() as stack:
        try:
            # The bare app has no /healthz: any HTTP answer, a 404 included, means it is up.
            process = stack.enter_context(running(spec.command(place), place.service.path, env, log_path, place.port))
        except RuntimeError as error:
            raise BenchError(f"{spec.key}: {error} (its output: {log_path})") from None
        yield Server(spec=spec, manager=place.service.manager, url=f"http://127.0.0.1:{place.port}/api/order",
                     pid=process.pid)  # fmt: skip


def start_servers(
    stack: ExitStack, services: Sequence[Service], variants: Mapping[str, Service], logs: Path, otlp_endpoint: str
) -> list[Server]:
    """Every server of SERVERS: the generated ones for each service, a variant's from that service, the others
    from the last service."""
    settings = gunicorn_server_settings(services[-1])
    for service in {id(s): s for s in [*services, *variants.values()]}.values():
        if service.environment:  # a database to migrate before it serves
            run(["make", "migrate"], service.path, service.environment)
    servers = []
    for spec in SERVERS:
        if spec.variant is not None:
            places = [variants[spec.variant]]
        else:
            places = list(services) if spec.kind == GENERATED else [services[-1]]
        for service in places:
            place = Place(service=service, port=free_port(), server_settings=settings, otlp_endpoint=otlp_endpoint)
            log_path = logs / f"{spec.key}-{service.manager}.log"
            servers.append(stack.enter_context(serving(spec, place, log_path)))
    return servers


def check_order(server: Server) -> None:
    """One order, as wrk sends it: the answer must be 201 with the message of the generated service."""
    request = urllib.request.Request(server.url, data=b'{"name": "book"}', headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())
        if response.status != 201 or not str(body.get("message", "")).startswith("Order created"):
            raise BenchError(f"{server.key}: unexpected answer {response.status} {body}")
