"""The example system, generated from the template and used for real.

A monorepo holds the shared package (libs/discount_calculator) and two services generated into services/:
order_manager depends on the package by path, user_manager does not; each stores its records in a PostgreSQL
database of its own. For each dependency manager, both are installed with `make install`, pass their own tests,
and are served by gunicorn on 127.0.0.1, order_manager with the team change docs/example.md shows (it asks
user_manager whether an order's user exists), so the two talk, and fail and recover as user_manager does. Then
order_manager is generated against a private index (a real pypiserver) that serves the package as a release.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from kit.answers import BakedService, bake
from kit.checks import bom_packages, locked_runtime_packages
from kit.example import INDEX_PYTHON, ExampleMonorepo, with_team_change
from kit.postgres import PostgresGetter
from kit.serving import HttpResponse, Served, free_port, http, served, serving, stored_records
from kit.template import LOCK_FILES, MANAGERS, SHARED_PACKAGE_DIR
from kit.workers import example_system_group, one_group_per_case

pytestmark = [pytest.mark.install, pytest.mark.example, pytest.mark.network]
SHARED_PACKAGE_VERSION = tomllib.loads((SHARED_PACKAGE_DIR / "pyproject.toml").read_text())["project"]["version"]

ORDERS = 400  # chance that one of the 21 discounts never shows up: under 21 * (20/21)**400, below one in ten million
ORDER_MESSAGE = re.compile(r"Order created, discount is (\d+)\.")


# Seconds order_manager gives each call to user_manager, retries included (the default is 5): short, to see it kept.
DEADLINE = 2.0
# How long a failing call may take past the deadline: the answer's own way back, on a busy machine.
SLACK = 1.0
# Within it, order_manager must create orders again once user_manager is back: its breaker's cool-down (5 s by
# default) and one deadline, with room to spare.
RECOVERY = 15.0


def place_order(base_url: str, user_id: int | None = None) -> int:
    """An order (of ``user_id``, for order_manager with the team change); its discount, checked against its message."""
    order = {"name": "book"} if user_id is None else {"name": "book", "user_id": user_id}
    response = http("POST", base_url + "/api/order", json.dumps(order).encode(), "application/json")
    assert response.status == 201, response.body
    body = response.json()
    match = ORDER_MESSAGE.fullmatch(body["message"])
    assert match, body
    assert int(match.group(1)) == body["discount"]
    return int(body["discount"])


def indexes_in_lock(lock: Path) -> set[str]:
    """The package indexes a lock file says it resolved from (every locked package's, for Poetry and uv)."""
    if lock.suffix == ".txt":  # uv pip compile writes the index it was given as an option line (--emit-index-url)
        lines = lock.read_text().splitlines()
        return {line.split()[1].rstrip("/") for line in lines if line.startswith("--index-url ")}
    packages = tomllib.loads(lock.read_text())["package"]
    if lock.name == "poetry.lock":  # a package without a source came from PyPI, Poetry's implicit default
        return {package.get("source", {}).get("url", "https://pypi.org/simple").rstrip("/") for package in packages}
    # uv.lock: the service itself is a local source; every other package names its registry.
    sources = [package["source"] for package in packages if package["name"] != "order-manager"]
    return {source.get("registry", repr(source)).rstrip("/") for source in sources}


@pytest.fixture(
    scope="module",
    params=one_group_per_case(MANAGERS, lambda manager: f"dependency_manager={manager}", example_system_group),
)
def monorepo(request: pytest.FixtureRequest, example_monorepo: ExampleMonorepo) -> dict[str, BakedService]:
    """The example system for one dependency manager, both services installed with `make install`."""
    services: dict[str, BakedService] = example_monorepo(request.param)
    for service in services.values():
        service.install()
    return services


class UserManager:
    """user_manager under gunicorn, on a port of its own for the module: a test may stop it, hang it (every process
    of its group stopped by signal, as a machine that stalls) and bring it back where order_manager calls it."""

    def __init__(self, service: BakedService) -> None:
        self.service = service
        self.url = f"http://127.0.0.1:{free_port()}"
        self._running = ExitStack()
        self.server: Served | None = None

    def start(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.server = self._running.enter_context(served(self.service, settings={"ACCESS_LOG": "true"}, port=port))

    def stop(self) -> None:
        """Stop it, and wait until every process of its group has ended: gunicorn's workers finish in their own time
        what their open connections ask, after make has gone."""
        assert self.server is not None
        group = self.server.process.pid
        self._running.close()
        self.server = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise AssertionError(f"user_manager's processes (group {group}) still run 30 s after they were stopped")

    def signal(self, number: signal.Signals) -> None:
        assert self.server is not None
        os.killpg(self.server.process.pid, number)  # the group `served` started: make, gunicorn and its workers


@pytest.fixture(scope="module")
def user_manager(monorepo: dict[str, BakedService]) -> Iterator[UserManager]:
    users = UserManager(monorepo["user"])
    users.start()
    yield users
    users.stop()


@pytest.fixture(scope="module")
def user_url(user_manager: UserManager) -> str:
    return user_manager.url


@pytest.fixture(scope="module")
def team_order(
    monorepo: dict[str, BakedService], tmp_path_factory: pytest.TempPathFactory, postgres: PostgresGetter
) -> BakedService:
    """order_manager with the team change of docs/example.md, applied as the page says, in a monorepo of its own."""
    return with_team_change(monorepo["order"], tmp_path_factory.mktemp("team-change"), postgres)


@pytest.fixture(scope="module")
def order_server(team_order: BakedService, user_manager: UserManager) -> Iterator[Served]:
    settings = {"USER_MANAGER_URL": user_manager.url, "USER_MANAGER_DEADLINE": str(DEADLINE), "ACCESS_LOG": "true"}
    with served(team_order, settings=settings) as server:
        yield server


@pytest.fixture(scope="module")
def order_url(order_server: Served) -> str:
    return order_server.url


def create_user(user_url: str, name: str = "Ada") -> int:
    response = http("POST", user_url + "/api/user", json.dumps({"name": name}).encode(), "application/json")
    assert response.status == 201, response.body
    return int(response.json()["id"])


def timed_order(order_url: str, user_id: int) -> tuple[HttpResponse, float]:
    started = time.monotonic()
    body = json.dumps({"name": "book", "user_id": user_id}).encode()
    response = http("POST", order_url + "/api/order", body, "application/json", timeout=DEADLINE + 10)
    return response, time.monotonic() - started


def assert_refused_in_time(response: HttpResponse, took: float, status: int) -> None:
    assert response.status == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == status
    assert took < DEADLINE + SLACK, f"answered {status} after {took:.2f} s, past the deadline of {DEADLINE} s"


def created_again(order_url: str, user_id: int) -> float:
    """Seconds until order_manager, not restarted, creates an order again; none of its answers meanwhile a 500."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY:
        response, _ = timed_order(order_url, user_id)
        assert response.status in (201, 503, 504), response.body
        if response.status == 201:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"order_manager did not create orders again within {RECOVERY} s")


def log_lines_of(service: BakedService, request_id: str) -> list[dict[str, Any]]:
    lines = (service.path / "serve.log").read_text(errors="replace").splitlines()
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    return [line for line in parsed if line.get("request_id") == request_id]


@pytest.mark.promise(
    "The shared package builds a typed wheel and an sdist; user_manager creates users", layer="example"
)
def test_the_shared_package_builds_a_typed_wheel_and_an_sdist(shared_package_dists: dict[str, Path]) -> None:
    assert shared_package_dists["wheel"].name == f"discount_calculator-{SHARED_PACKAGE_VERSION}-py3-none-any.whl"
    assert shared_package_dists["sdist"].name == f"discount_calculator-{SHARED_PACKAGE_VERSION}.tar.gz"
    names = zipfile.ZipFile(shared_package_dists["wheel"]).namelist()
    assert "discount_calculator/py.typed" in names
    assert "discount_calculator/calculator.py" in names


@pytest.mark.promise(
    "In the monorepo both services pass their tests; only order_manager has the package, editable", layer="example"
)
def test_both_services_pass_their_own_tests(monorepo: dict[str, BakedService]) -> None:
    for service in monorepo.values():
        assert " passed" in service.make("test")


@pytest.mark.promise(
    "In the monorepo both services pass their tests; only order_manager has the package, editable", layer="example"
)
def test_order_manager_uses_the_shared_package_from_the_monorepo_editable(monorepo: dict[str, BakedService]) -> None:
    order = monorepo["order"]
    location = order.run(".venv/bin/python", "-c", "import discount_calculator; print(discount_calculator.__file__)")
    assert Path(location.strip()).is_relative_to(order.path.parent.parent / "libs" / "discount_calculator")


def test_the_bill_of_materials_names_the_shared_package_with_the_locked_runtime(
    monorepo: dict[str, BakedService],
) -> None:
    order = monorepo["order"]
    order.make("sbom")
    bom = bom_packages(json.loads((order.path / "sbom.cdx.json").read_text()))
    locked = locked_runtime_packages(order.path, order.answers["dependency_manager"], order.name)

    assert bom["discount-calculator"][0] == SHARED_PACKAGE_VERSION
    assert {name: version for name, (version, _) in bom.items()} == {n: v for n, (v, _) in locked.items()}


@pytest.mark.promise(
    "In the monorepo both services pass their tests; only order_manager has the package, editable", layer="example"
)
def test_user_manager_has_no_trace_of_the_shared_package(monorepo: dict[str, BakedService]) -> None:
    user = monorepo["user"]
    for path in user.files():
        if path.name not in ("serve.log", ".cruft.json"):  # .cruft.json records every answer
            assert "discount" not in path.read_text().lower(), path
    probe = "import importlib.util; print(importlib.util.find_spec('discount_calculator') is None)"
    assert user.run(".venv/bin/python", "-c", probe).strip() == "True"


@pytest.mark.promise("400 orders, read back from PostgreSQL, show every discount from 0 to 20", layer="example")
def test_orders_read_back_from_the_database_show_every_discount_from_0_to_20(order_url: str, user_url: str) -> None:
    users = [create_user(user_url, name) for name in ("Ada", "Grace", "Edsger")]
    before = len(stored_records(order_url, "order"))
    discounts = [place_order(order_url, users[number % len(users)]) for number in range(ORDERS)]

    stored = stored_records(order_url, "order")[before:]
    read_back = [item["discount"] for item in stored]
    assert read_back == discounts
    assert [item["user_id"] for item in stored] == [users[number % len(users)] for number in range(ORDERS)]
    missing = sorted(set(range(21)) - set(read_back))
    assert not missing, f"discounts never given in {ORDERS} orders: {missing}"
    assert set(read_back) == set(range(21)), f"discounts outside 0 to 20: {sorted(set(read_back) - set(range(21)))}"


@pytest.mark.promise(
    "The example's team change, applied as docs/example.md shows it, passes the service's own tests and lint",
    layer="example",
)
def test_the_team_change_passes_the_services_own_tests_and_lint(team_order: BakedService) -> None:
    assert " passed" in team_order.make("test")
    team_order.make("lint")


@pytest.mark.promise("order_manager stores an order only for a user that user_manager knows", layer="example")
def test_an_order_of_a_user_that_user_manager_does_not_know_is_refused_naming_user_id(
    order_url: str, user_url: str
) -> None:
    known = create_user(user_url)
    before = len(stored_records(order_url, "order"))

    refused = http("POST", order_url + "/api/order", b'{"name": "book", "user_id": 2147483647}', "application/json")

    assert refused.status == 422, refused.body
    assert list(refused.json()["error"]["fields"]) == ["user_id"]
    assert len(stored_records(order_url, "order")) == before
    assert 0 <= place_order(order_url, known) <= 20


@pytest.mark.promise("One X-Request-ID is in the log lines of both services of the example", layer="example")
def test_one_request_id_is_in_both_services_logs(
    order_url: str, user_url: str, team_order: BakedService, user_manager: UserManager
) -> None:
    user_id = create_user(user_url)
    request_id = uuid.uuid4().hex
    body = json.dumps({"name": "traced", "user_id": user_id}).encode()

    response = http("POST", order_url + "/api/order", body, "application/json", headers={"X-Request-ID": request_id})

    assert response.status == 201, response.body
    deadline = time.monotonic() + 10  # gunicorn writes an access line after the answer
    while not (log_lines_of(team_order, request_id) and log_lines_of(user_manager.service, request_id)):
        assert time.monotonic() < deadline, f"request {request_id} is not in both services' serve.log"
        time.sleep(0.1)
    assert any("/api/user/" in str(line.get("message")) for line in log_lines_of(user_manager.service, request_id))


@pytest.mark.promise(
    "While user_manager is down or hung, orders get JSON 503 or 504 within the deadline; both recover",
    layer="example",
)
def test_while_user_manager_is_down_orders_get_503_in_time_and_succeed_once_it_is_back(
    order_server: Served, user_manager: UserManager
) -> None:
    user_id = create_user(user_manager.url)
    user_manager.stop()
    try:
        for _ in range(8):  # enough to open the breaker: the later ones fail at once
            response, took = timed_order(order_server.url, user_id)
            assert_refused_in_time(response, took, 503)
            assert int(response.headers["Retry-After"]) >= 1
            assert "user_manager" in response.json()["error"]["message"]
        assert http("GET", order_server.url + "/healthz").status == 200
    finally:
        user_manager.start()

    print(f"\norders created again {created_again(order_server.url, user_id):.1f} s after user_manager came back")
    assert order_server.process.poll() is None, "order_manager was restarted"


@pytest.mark.promise(
    "While user_manager is down or hung, orders get JSON 503 or 504 within the deadline; both recover",
    layer="example",
)
def test_while_user_manager_hangs_orders_get_504_in_time_health_answers_and_both_recover(
    order_server: Served, user_manager: UserManager
) -> None:
    user_id = create_user(user_manager.url)
    answers: list[tuple[HttpResponse, float]] = []
    user_manager.signal(signal.SIGSTOP)
    try:
        waiting = threading.Thread(target=lambda: answers.append(timed_order(order_server.url, user_id)))
        waiting.start()
        time.sleep(DEADLINE / 4)  # the order is now waiting for user_manager
        started = time.monotonic()
        health = http("GET", order_server.url + "/healthz", timeout=DEADLINE)
        health_took = time.monotonic() - started
        waiting.join(timeout=DEADLINE + 10)
        answers.append(timed_order(order_server.url, user_id))
    finally:
        user_manager.signal(signal.SIGCONT)

    assert health.status == 200
    assert health_took < DEADLINE / 2, f"/healthz took {health_took:.2f} s while an order waited for user_manager"
    assert len(answers) == 2
    for response, took in answers:
        assert_refused_in_time(response, took, 504)
    print(f"\norders created again {created_again(order_server.url, user_id):.1f} s after user_manager went on")
    assert http("GET", user_manager.url + "/healthz").status == 200
    assert order_server.process.poll() is None, "order_manager was restarted"


@pytest.mark.promise(
    "The shared package builds a typed wheel and an sdist; user_manager creates users", layer="example"
)
def test_user_manager_creates_users(user_url: str) -> None:
    response = http("POST", user_url + "/api/user", b'{"name": "Ada"}', "application/json")

    assert response.status == 201
    assert response.json()["message"] == "User created"
    assert http("GET", user_url + response.headers["Location"]).json()["name"] == "Ada"


@pytest.mark.promise(
    "A service locks, installs and runs from a private index alone; its lock names that index", layer="example"
)
@pytest.mark.parametrize("manager", MANAGERS, ids=lambda manager: f"dependency_manager={manager}")
def test_a_service_installs_and_runs_from_the_private_index_alone(
    manager: str, private_index: str, tmp_path: Path
) -> None:
    order = bake(
        tmp_path,
        service_name="order_manager",
        dependency_manager=manager,
        python_version=INDEX_PYTHON,
        use_discount_calculator=True,
        package_index_url=private_index,
        _lock_dependencies=True,
    )
    for name in LOCK_FILES[manager]:
        lock = order.path / name
        assert lock.is_file(), "generation did not lock against the private index"
        assert "pypi.org" not in lock.read_text(), f"{name} points at PyPI"
        assert indexes_in_lock(lock) == {private_index.rstrip("/")}, f"{name} does not point at the private index"

    order.install()
    assert " passed" in order.make("test")
    with serving(order) as url:
        assert 0 <= place_order(url) <= 20
