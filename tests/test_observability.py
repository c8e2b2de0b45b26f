"""Observability of generated services, for real, for Poetry, pip and uv.

Under `make serve` with three gunicorn workers: the request histogram at /metrics counts exactly the requests
sent, whichever worker answers and after a worker is killed with SIGKILL; client errors are counted with their
status; `X-Request-ID` is echoed, created or replaced, and written in the JSON log lines of its request. With
`use_opentelemetry=yes`, a real OTLP/HTTP receiver on 127.0.0.1 gets the span that continues an incoming
`traceparent`, and a collector that never answers does not hold up a single request.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import tomllib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kit.answers import BakedService, Baker, case_id, install_matrix
from kit.processes import clean_environment, process_group
from kit.serving import OtlpReceiver, free_port, http, otlp_receiver, request_counts, running, wait_until_answers
from kit.template import LOCK_FILES
from kit.workers import one_group_per_case

# The same bakes (and so the same installs) as test_services.py.
MATRIX = install_matrix()
WORKERS = 3
REQUESTS = 60
CREATED_ID = re.compile(r"[0-9a-f]{32}")
JSON_BODY = (b'{"item": "book"}', "application/json")


@dataclass
class Served:
    """A service under `make serve`: its URL, its process group, its log file and its metrics directory."""

    service: BakedService
    url: str
    process: Any
    log: Path
    metrics_dir: Path

    def counts(self) -> dict[tuple[str, str, str], float]:
        return request_counts(self.url)

    def workers(self) -> list[int]:
        """The worker pids: gunicorn processes of the group that have no children (the master and make have)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # ended meanwhile
            ppid, group = (int(value) for value in text[text.rindex(")") + 2 :].split()[1:3])
            if group == self.process.pid:
                parents[int(stat.parent.name)] = ppid
        gunicorns = [pid for pid in parents if b"gunicorn" in _cmdline(pid)]
        return sorted(pid for pid in gunicorns if pid not in parents.values())

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def log_entries(self) -> list[dict[str, Any]]:
        """Every line of the service's log, parsed; the first is make echoing its command, not the service's."""
        lines = self.log_lines()
        assert lines[0].startswith(self.service.env_prefix + "_HOST="), lines[0]
        return [json.loads(line) for line in lines[1:]]

    def wait_for_log(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_entries():
                if predicate(entry):
                    return entry
            time.sleep(0.1)
        raise AssertionError(f"no such log line within {timeout} s:\n" + "\n".join(self.log_lines()[-20:]))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@contextmanager
def serve(service: BakedService, directory: Path, **settings: str) -> Iterator[Served]:
    """`make serve` with three workers, the access log on, and its metrics in ``directory``/metrics."""
    port = free_port()
    prefix = service.env_prefix
    metrics_dir = directory / "metrics"
    env = {
        f"{prefix}_HOST": "127.0.0.1",
        f"{prefix}_PORT": str(port),
        f"{prefix}_WORKERS": str(WORKERS),
        f"{prefix}_ACCESS_LOG": "true",
        f"{prefix}_METRICS_DIR": str(metrics_dir),
    }
    log = directory / f"serve-{port}.log"
    with running(["make", "serve"], service.path, clean_environment({**env, **settings}), log, port) as process:
        served = Served(service, f"http://127.0.0.1:{port}", process, log, metrics_dir)
        deadline = time.monotonic() + 30
        while len(served.workers()) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(served.workers()) == WORKERS
        yield served


def post_orders(served: Served, count: int) -> None:
    for _ in range(count):
        assert http("POST", served.url + "/api/order", *JSON_BODY).status == 201


def increase(before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]) -> dict[Any, float]:
    return {key: value - before.get(key, 0) for key, value in after.items() if value != before.get(key, 0)}


@pytest.fixture(scope="module")
def served(installed: BakedService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(installed, tmp_path_factory.mktemp("observe")) as running:
        yield running


@pytest.mark.promise(
    "`/metrics` counts exactly the requests all workers served, even after a worker is killed", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_the_histogram_counts_exactly_the_requests_all_workers_served(served: Served) -> None:
    before = served.counts()
    post_orders(served, REQUESTS)
    # Keep going until at least two workers have answered (each writes its own file), so the sum is across workers.
    sent = REQUESTS
    while len(list(served.metrics_dir.glob("histogram_*.db"))) < 2 and sent < 20 * REQUESTS:
        post_orders(served, 10)
        sent += 10

    assert len(list(served.metrics_dir.glob("histogram_*.db"))) >= 2
    assert increase(before, served.counts()).get(("POST", "/api/order", "201")) == sent


@pytest.mark.promise(
    "`/metrics` counts exactly the requests all workers served, even after a worker is killed", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_a_worker_killed_with_sigkill_takes_no_counts_with_it(served: Served) -> None:
    before = served.counts()
    post_orders(served, REQUESTS)
    counted = {int(path.stem.split("_")[-1]) for path in served.metrics_dir.glob("histogram_*.db")}
    victim = next(pid for pid in served.workers() if pid in counted)

    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (victim in served.workers() or len(served.workers()) < WORKERS):
        time.sleep(0.1)
    assert victim not in served.workers()
    assert len(served.workers()) == WORKERS
    post_orders(served, REQUESTS)

    assert increase(before, served.counts()).get(("POST", "/api/order", "201")) == 2 * REQUESTS


@pytest.mark.promise(
    "`/metrics` counts exactly the requests all workers served, even after a worker is killed", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_client_errors_are_counted_with_their_status_and_one_route_for_unmatched_paths(served: Served) -> None:
    before = served.counts()
    for path in ("/no/such/route", "/api/order/42", "/.env", "/admin", "/x"):
        assert http("GET", served.url + path).status == 404
    for _ in range(4):
        assert http("POST", served.url + "/api/order", b"item=book", "application/x-www-form-urlencoded").status == 415
    for _ in range(3):
        assert http("DELETE", served.url + "/api/order").status == 405

    added = increase(before, served.counts())
    assert added[("GET", "", "404")] == 5
    assert added[("POST", "/api/order", "415")] == 4
    assert added[("DELETE", "", "405")] == 3


@pytest.mark.promise(
    "Request ids are echoed, created or replaced, and logged; no two workers create the same id", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_request_ids_are_echoed_created_or_replaced_and_logged(served: Served) -> None:
    sent = f"obs-{uuid.uuid4()}"

    echoed = http("POST", served.url + "/api/order", *JSON_BODY, headers={"X-Request-ID": sent})
    error = http("GET", served.url + "/no/such/route", headers={"X-Request-ID": sent + "-404"})
    created = http("GET", served.url + "/healthz")
    replaced = http("GET", served.url + "/healthz", headers={"X-Request-ID": 'no spaces; no quotes"'})

    assert (echoed.status, echoed.headers["X-Request-ID"]) == (201, sent)
    assert (error.status, error.headers["X-Request-ID"]) == (404, sent + "-404")
    assert CREATED_ID.fullmatch(created.headers["X-Request-ID"])
    assert CREATED_ID.fullmatch(replaced.headers["X-Request-ID"])
    assert created.headers["X-Request-ID"] != replaced.headers["X-Request-ID"]
    for request_id, request_line in [
        (sent, "POST /api/order"),
        (sent + "-404", "GET /no/such/route"),
        (created.headers["X-Request-ID"], "GET /healthz"),
        (replaced.headers["X-Request-ID"], "GET /healthz"),
    ]:
        line = served.wait_for_log(lambda entry, rid=request_id: entry.get("request_id") == rid)
        assert line["logger"] == "gunicorn.access"
        assert request_line in line["message"]


@pytest.mark.promise(
    "Request ids are echoed, created or replaced, and logged; no two workers create the same id", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_created_request_ids_never_repeat_across_workers(served: Served) -> None:
    """New ids come from ``random``, which each worker must reseed after the fork, or workers repeat each other."""
    with ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
        responses = list(pool.map(lambda _: http("GET", served.url + "/healthz"), range(REQUESTS)))

    created = [response.headers["X-Request-ID"] for response in responses]
    assert all(CREATED_ID.fullmatch(request_id) for request_id in created)
    assert len(set(created)) == REQUESTS


@pytest.mark.promise(
    "Every log line is a JSON object; an access line appears only with `<PREFIX>_ACCESS_LOG=true`", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_every_line_the_service_logs_is_a_json_object(served: Served) -> None:
    http("GET", served.url + "/healthz")
    entries = served.log_entries()

    assert len(entries) > WORKERS
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
    assert any(entry["message"].startswith("Booting worker") for entry in entries)


@pytest.mark.install
@pytest.mark.network
def test_make_run_logs_json_too(installed: BakedService, tmp_path: Path) -> None:
    port = free_port()
    prefix = installed.env_prefix
    log = tmp_path / "run.log"
    env = clean_environment({f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port)})
    with log.open("wb") as output, process_group(["make", "run"], installed.path, env, output) as process:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", process)
        assert http("POST", f"http://127.0.0.1:{port}/api/order", *JSON_BODY).status == 201
        deadline = time.monotonic() + 20
        while "POST /api/order" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)

    lines = log.read_text().splitlines()
    # make's echo of its command and the Flask CLI's banner (" * Serving Flask app", " * Debug mode") are printed,
    # not logged; every logged line is JSON.
    logged = [line for line in lines[1:] if not line.startswith((" * Serving Flask app", " * Debug mode"))]
    entries = [json.loads(line) for line in logged]
    assert any("POST /api/order" in entry["message"] for entry in entries)


@pytest.mark.promise(
    "`/metrics` counts exactly the requests all workers served, even after a worker is killed", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_the_metrics_directory_is_emptied_when_gunicorn_starts(baked: Any, tmp_path: Path) -> None:
    uv = next(answers for answers in MATRIX if answers["dependency_manager"] == "uv")
    service: BakedService = baked(**uv, _lock_dependencies=True)
    service.install()
    with serve(service, tmp_path) as first:
        post_orders(first, 5)
        assert first.counts()[("POST", "/api/order", "201")] == 5
    assert list((tmp_path / "metrics").glob("histogram_*.db")), "the first run left no samples to wipe"

    with serve(service, tmp_path) as second:
        post_orders(second, 2)
        assert second.counts()[("POST", "/api/order", "201")] == 2


@pytest.mark.promise(
    "OpenTelemetry only when chosen: spans reach a real OTLP receiver; a dead collector delays nothing", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_the_lock_holds_no_opentelemetry_unless_chosen(installed: BakedService) -> None:
    for name in LOCK_FILES[installed.answers["dependency_manager"]]:
        text = (installed.path / name).read_text().lower()
        assert "prometheus-client" in text or "prometheus_client" in text
        assert "opentelemetry" not in text
    assert not (installed.path / "src" / installed.name / "core" / "tracing.py").exists()


# --- OpenTelemetry ----------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as listening:
        yield listening


@pytest.fixture(
    scope="module",
    params=one_group_per_case(MATRIX, case_id, group=lambda answers: case_id({**answers, "use_opentelemetry": True})),
)
def traced(request: pytest.FixtureRequest, baked: Baker) -> BakedService:
    service = baked(**request.param, use_opentelemetry=True, _lock_dependencies=True)
    service.install()
    return service


@pytest.mark.promise(
    "OpenTelemetry only when chosen: spans reach a real OTLP receiver; a dead collector delays nothing", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_the_span_continuing_an_incoming_traceparent_reaches_a_real_otlp_receiver(
    traced: BakedService, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with serve(traced, tmp_path, **otel) as served:
        response = http(
            "POST", served.url + "/api/order", *JSON_BODY, headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
        )
        assert response.status == 201
        span = receiver.wait_for_span(trace_id)
        logged = served.wait_for_log(lambda entry: entry.get("trace_id") == trace_id)

    assert span["parent_span_id"] == parent_id
    assert span["service"] == traced.name  # OTEL_SERVICE_NAME's default
    assert (span["path"], span["content_type"]) == ("/v1/traces", "application/x-protobuf")
    assert "/api/order" in span["name"]
    assert logged["span_id"] == span["span_id"]
    assert logged["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.promise(
    "OpenTelemetry only when chosen: spans reach a real OTLP receiver; a dead collector delays nothing", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_the_lock_holds_opentelemetry_when_chosen_and_the_service_stays_green(traced: BakedService) -> None:
    for name in LOCK_FILES[traced.answers["dependency_manager"]]:
        assert "opentelemetry-sdk" in (traced.path / name).read_text().lower().replace("_", "-")
    assert " passed" in traced.make("test")
    traced.make("lint")


@pytest.mark.promise(
    "OpenTelemetry only when chosen: spans reach a real OTLP receiver; a dead collector delays nothing", layer="install"
)
@pytest.mark.install
@pytest.mark.network
def test_a_collector_that_never_answers_holds_up_no_request(baked: Any, tmp_path: Path) -> None:
    uv = next(answers for answers in MATRIX if answers["dependency_manager"] == "uv")  # the traced fixture's bake
    service: BakedService = baked(**uv, use_opentelemetry=True, _lock_dependencies=True)
    service.install()
    # Connections to it are accepted by the kernel (backlog) and never answered: an export on the request path
    # would hold each request for the exporter's timeout (30 s here), beyond the client's 10 s.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
        # Workers stuck in a last export at exit are killed after 2 s rather than 30.
        "ORDER_MANAGER_GRACEFUL_TIMEOUT": "2",
    }
    try:
        with serve(service, tmp_path, **otel) as served:
            for _ in range(20):
                assert http("POST", served.url + "/api/order", *JSON_BODY).status == 201
    finally:
        silent.close()


@pytest.mark.promise(
    "OpenTelemetry only when chosen: spans reach a real OTLP receiver; a dead collector delays nothing", layer="install"
)
def test_opentelemetry_appears_only_when_chosen(baked: Any) -> None:
    for chosen in (False, True):
        service: BakedService = baked(dependency_manager="uv", use_opentelemetry=chosen)
        tracing = service.path / "src" / service.name / "core" / "tracing.py"
        dependencies = tomllib.loads((service.path / "pyproject.toml").read_text())["project"]["dependencies"]
        code = "\n".join(p.read_text() for p in service.files() if p.suffix == ".py")

        assert tracing.exists() is chosen
        assert (service.path / "tests" / "test_tracing.py").exists() is chosen
        assert any(d.startswith("opentelemetry-sdk") for d in dependencies) is chosen
        assert ("from opentelemetry" in code) is chosen
        assert ("post_worker_init" in (service.path / "gunicorn.conf.py").read_text()) is chosen
