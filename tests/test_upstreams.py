"""Calls between services (the answer upstream_services): a service with upstreams passes its own tests of the
client (a fake upstream on 127.0.0.1) and its lint with every manager; a blank answer changes nothing; under
gunicorn, a hung upstream costs the caller no more than the deadline and the worker stays free for /healthz. The
hook's refusals of bad names are rows of tests/test_answers.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from kit.answers import BakedService, Baker
from kit.example import EXAMPLE_PYTHON
from kit.serving import http, http_server_thread, serving
from kit.workers import one_group_per_case

UPSTREAMS = "user_manager, billing"
UPSTREAM_FILES = ("src/{name}/clients.py", "src/{name}/core/upstream.py", "tests/test_upstream.py")
# Every dependency manager, each with a database and tracing somewhere, so each part the client touches is linted.
CASES = [("uv", "none", True), ("pip", "sqlite", False), ("poetry", "postgresql", False)]
DEADLINE = 2.0
# gunicorn serving the service's app with one more route, as team code would add it: a view that calls user_manager.
RELAY_APP = """\
from {name}.clients import user_manager
from {name}.core.wsgi import app


@app.get("/relay")
def relay() -> tuple[object, int]:
    answer = user_manager.get("/users/7")
    return answer.json(), answer.status_code
"""


@pytest.fixture(
    scope="module",
    params=one_group_per_case(
        CASES, lambda case: f"dependency_manager={case[0]},database={case[1]},use_opentelemetry={case[2]}"
    ),
)
def with_upstreams(request: pytest.FixtureRequest, baked: Baker) -> BakedService:
    manager, database, tracing = request.param
    service: BakedService = baked(
        dependency_manager=manager,
        python_version=EXAMPLE_PYTHON,
        database=database,
        use_opentelemetry=tracing,
        upstream_services=UPSTREAMS,
        _lock_dependencies=True,
    )
    service.install()
    return service


@pytest.mark.promise(
    "An upstream's client keeps its deadline, retry, budget and breaker rules against a fake upstream",
    layer="install",
)
@pytest.mark.install
@pytest.mark.network
def test_a_service_with_upstreams_passes_its_own_tests_and_lint(with_upstreams: BakedService) -> None:
    output = with_upstreams.make("test")
    assert "tests/test_upstream.py" in output, output[-2000:]
    with_upstreams.make("lint")


@pytest.mark.promise("A blank upstream_services adds no file and no dependency", layer="offline")
def test_a_blank_answer_changes_nothing(baked: Baker) -> None:
    plain: BakedService = baked()
    blank: BakedService = baked(upstream_services="  ")
    calling: BakedService = baked(upstream_services=UPSTREAMS)

    def contents(service: BakedService) -> dict[str, bytes]:
        return {
            str(path.relative_to(service.path)): path.read_bytes()
            for path in service.files()
            if path.name != ".cruft.json"  # records the answers as given
        }

    assert contents(blank) == contents(plain)
    for pattern in UPSTREAM_FILES:
        name = pattern.format(name=plain.name)
        assert not (plain.path / name).exists()
        assert (calling.path / name).exists()
    assert "httpx" not in (plain.path / "pyproject.toml").read_text()
    assert "httpx" in (calling.path / "pyproject.toml").read_text()


@pytest.fixture
def hung_upstream() -> Iterator[str]:
    """An upstream on 127.0.0.1 that accepts every request and never answers it (until the test ends)."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(60)

        def log_message(self, *args: Any) -> None:
            pass

    with http_server_thread(Hang) as server:
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            release.set()


@pytest.mark.promise(
    "Under gunicorn, a hung upstream gives the caller 504 within the deadline while /healthz answers",
    layer="install",
)
@pytest.mark.install
@pytest.mark.network
def test_under_gunicorn_a_hung_upstream_gives_504_within_the_deadline_while_healthz_answers(
    baked: Baker, hung_upstream: str
) -> None:
    service: BakedService = baked(
        dependency_manager="uv", python_version=EXAMPLE_PYTHON, upstream_services=UPSTREAMS, _lock_dependencies=True
    )
    service.install()
    (service.path / "relay_app.py").write_text(RELAY_APP.format(name=service.name))
    settings = {"USER_MANAGER_URL": hung_upstream, "BILLING_URL": hung_upstream, "USER_MANAGER_DEADLINE": str(DEADLINE)}
    command = [".venv/bin/gunicorn", "--config", "gunicorn.conf.py", "relay_app:app"]

    with serving(service, command, settings) as base, ThreadPoolExecutor(max_workers=8) as pool:
        started = time.monotonic()
        # More calls than the service has workers (2): each waits in a greenlet, not a worker.
        calls = [pool.submit(http, "GET", f"{base}/relay") for _ in range(6)]
        time.sleep(0.5)
        probed = time.monotonic()
        health = http("GET", f"{base}/healthz", timeout=1)
        health_seconds = time.monotonic() - probed
        answers = [call.result() for call in calls]
        elapsed = time.monotonic() - started

    assert health.status == 200
    assert health_seconds < 0.5, f"/healthz took {health_seconds:.2f} s while calls waited"
    assert [answer.status for answer in answers] == [504] * len(answers)
    assert all("user_manager" in answer.json()["error"]["message"] for answer in answers)
    assert DEADLINE <= elapsed < DEADLINE + 1, f"the calls took {elapsed:.2f} s with a deadline of {DEADLINE} s"
