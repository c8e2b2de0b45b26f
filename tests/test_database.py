"""Services that keep data, proven on real databases: every manager with each database installs and passes its own
tests and lint; under gunicorn with three workers, PostgreSQL is stopped and started again and a worker killed while
hundreds of records are created, and nothing acknowledged is lost; SQLite takes concurrent writes from every
worker; concurrent creates with one Idempotency-Key store one record; a missing or malformed database URL stops the
service in one line, without the password; without a test database, a PostgreSQL service's tests start a server of
their own for an ordinary user, and stop in one line for root."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from kit.answers import BakedService, Baker
from kit.example import EXAMPLE_PYTHON
from kit.postgres import Developer, PostgresServer, ordinary_user
from kit.processes import clean_environment
from kit.serving import HttpResponse, free_port, http, serving, stored_records
from kit.template import MANAGERS, PYTHONS, TOOLS_BIN
from kit.workers import one_group_per_case

pytestmark = [pytest.mark.install, pytest.mark.network]

DATABASES = ("sqlite", "postgresql")
RESOURCE = "shipment"
CREATES = 300  # records SQLite takes from every worker at once
CLIENTS = 12
REPEATS = 48  # creates sent at once with one Idempotency-Key
# Records created before the faults, and after PostgreSQL is back, by clients that go on creating throughout.
WRITES_BEFORE = 100
WRITES_AFTER = 100
# The one form of every timestamp a service answers, whatever its database: UTC, six digits of microseconds.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@pytest.fixture(
    scope="module",
    params=one_group_per_case(
        [(m, d) for d in DATABASES for m in MANAGERS], lambda case: f"dependency_manager={case[0]},database={case[1]}"
    ),
)
def stored(request: pytest.FixtureRequest, baked: Baker) -> BakedService:
    manager, database = request.param
    service: BakedService = baked(
        dependency_manager=manager,
        python_version=EXAMPLE_PYTHON,
        database=database,
        resource_name=RESOURCE,
        use_opentelemetry=manager == "uv",
        _lock_dependencies=True,
    )
    service.install()
    return service


@pytest.mark.promise(
    "Each manager with each database installs and passes its own tests and lint; migrations are idempotent",
    layer="install",
)
def test_each_manager_with_each_database_passes_its_own_tests_and_lint(stored: BakedService) -> None:
    assert " passed" in stored.make("test")
    stored.make("lint")


@pytest.mark.promise(
    "Each manager with each database installs and passes its own tests and lint; migrations are idempotent",
    layer="install",
)
def test_make_migrate_brings_a_new_database_to_the_latest_revision_and_is_idempotent(stored: BakedService) -> None:
    stored.make("migrate")
    current = stored.run(".venv/bin/python", "-m", f"{stored.name}.core.migrate", "current")
    stored.make("migrate")

    assert "0002 (head)" in current


@pytest.mark.promise(
    "With either database, every timestamp is answered in UTC with six digits of microseconds (`...Z`)", layer="install"
)
def test_created_at_is_answered_in_utc_to_the_microsecond_whatever_the_database(stored: BakedService) -> None:
    with serving(stored) as url:
        before = datetime.now(UTC)
        status, created = create(url, "timed")
        after = datetime.now(UTC)
        assert created is not None, f"POST answered {status}"
        read_back = http("GET", f"{url}/api/{RESOURCE}/{created['id']}").json()

    for answered in (created["created_at"], read_back["created_at"]):
        assert TIMESTAMP.fullmatch(answered), f"not a UTC timestamp to the microsecond: {answered!r}"
        assert before <= datetime.strptime(answered, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) <= after


@pytest.mark.promise(
    "Concurrent creates with one Idempotency-Key under two gunicorn workers store one record, on either database",
    layer="install",
)
def test_concurrent_creates_with_one_idempotency_key_store_one_record(stored: BakedService) -> None:
    key, name = str(uuid.uuid4()), f"once {uuid.uuid4().hex[:8]}"  # the service's database outlives one test
    body = f'{{"name": "{name}"}}'.encode()
    with serving(stored) as url:  # two gevent workers, each taking its share of the connections
        start = threading.Barrier(CLIENTS)

        def send(index: int) -> HttpResponse:
            if index < CLIENTS:
                start.wait(10)
            return http("POST", f"{url}/api/{RESOURCE}", body, "application/json", {"Idempotency-Key": key})

        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(send, range(REPEATS)))
        later = send(REPEATS)
        records = [record for record in stored_records(url, RESOURCE) if record["name"] == name]

    statuses = Counter(answer.status for answer in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = {(answer.body, answer.headers["Location"]) for answer in [*answers, later] if answer.status == 201}
    assert len(created) == 1, f"{len(created)} different answers to one key: {statuses}"
    assert all(answer.headers["Retry-After"] == "1" for answer in answers if answer.status == 409)
    assert later.status == 201
    assert later.headers["Idempotent-Replayed"] == "true"
    assert len(records) == 1, f"{len(records)} records stored for one key: {statuses}"


def status_of(method: str, url: str) -> int:
    """The status of one request, 0 when the connection failed or broke off before the whole answer."""
    try:
        return http(method, url).status
    except (OSError, HTTPException):
        return 0


def create(base_url: str, name: str) -> tuple[int, dict[str, Any] | None]:
    """One POST; its status and, for a 201, the stored representation. Status 0: the connection failed, or broke off
    before the whole answer (a worker killed between the headers and the body): no acknowledgement."""
    try:
        response = http("POST", f"{base_url}/api/{RESOURCE}", f'{{"name": "{name}"}}'.encode(), "application/json")
    except (OSError, HTTPException):
        return 0, None
    return response.status, response.json() if response.status == 201 else None


def gunicorn_workers(service: BakedService) -> list[int]:
    """The gunicorn workers serving ``service``: of the processes in its directory that name gunicorn (the shell make
    starts, the master, the workers), those with no child among them."""
    running: dict[int, int] = {}  # gunicorn process id -> parent process id
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            command = (status.parent / "cmdline").read_bytes()
            directory = (status.parent / "cwd").resolve()
            parent = int(next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("PPid:")))
        except (OSError, StopIteration):
            continue
        if b"gunicorn" in command and directory == service.path.resolve():
            running[int(status.parent.name)] = parent
    workers = [pid for pid in running if pid not in running.values()]
    assert workers, f"no gunicorn workers for {service.name}:\n{(service.path / 'serve.log').read_text()[-3000:]}"
    return workers


@pytest.fixture(scope="module")
def faulty_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, which the fault test stops and starts."""
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.mark.promise(
    "No acknowledged write is lost while PostgreSQL restarts and a worker is killed; only 503s are 5xx", layer="example"
)
@pytest.mark.example
def test_no_acknowledged_write_is_lost_when_postgresql_restarts_and_a_worker_is_killed(
    baked: Baker, faulty_postgres: PostgresServer
) -> None:
    service = baked(dependency_manager="uv", python_version=EXAMPLE_PYTHON, database="postgresql",
                    resource_name=RESOURCE, _lock_dependencies=True)  # fmt: skip
    service.install()
    prefix = service.env_prefix
    faulty = {**service.environment, f"{prefix}_DATABASE_URL": faulty_postgres.create_database("faults")}
    original, service.environment = service.environment, faulty
    statuses: Counter[int] = Counter()
    probes: dict[str, Counter[int]] = {"readyz": Counter(), "healthz": Counter()}
    acknowledged: list[dict[str, Any]] = []
    lock = threading.Lock()
    try:
        with serving(service, settings={"WORKERS": "3", "DATABASE_CONNECT_TIMEOUT": "2"}) as url:
            done = threading.Event()

            def client(index: int) -> None:
                for number in itertools.count():
                    if done.is_set():
                        return
                    status, body = create(url, f"record {index}-{number}")
                    with lock:
                        statuses[status] += 1
                        if body is not None:
                            acknowledged.append(body)
                    time.sleep(0.02)

            def wait_for_writes(count: int) -> None:
                deadline = time.monotonic() + 60
                while statuses[201] < count and time.monotonic() < deadline:
                    time.sleep(0.05)

            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [pool.submit(client, index) for index in range(CLIENTS)]
                wait_for_writes(WRITES_BEFORE)
                os.kill(gunicorn_workers(service)[0], signal.SIGKILL)
                time.sleep(0.3)
                faulty_postgres.stop("fast")
                down_since = time.monotonic()
                while time.monotonic() - down_since < 2:
                    probes["readyz"][status_of("GET", url + "/readyz")] += 1
                    probes["healthz"][status_of("GET", url + "/healthz")] += 1
                    time.sleep(0.2)
                written_before_restart = statuses[201]
                faulty_postgres.restart()
                wait_for_writes(written_before_restart + WRITES_AFTER)
                done.set()
                for future in futures:
                    future.result()
            resumed = [create(url, f"after the restart {index}")[0] for index in range(5)]
            records = stored_records(url, RESOURCE)
    finally:
        service.environment = original

    server_errors = {status: count for status, count in statuses.items() if status >= 500 and status != 503}
    assert not server_errors, f"answers other than 503 among the 5xx: {statuses}"
    assert statuses[201] >= WRITES_BEFORE + WRITES_AFTER, f"too few writes got through: {statuses}"
    assert statuses[503] > 0, f"the database was never seen down: {statuses}"
    assert resumed == [201] * 5, "writes did not resume after the restart"
    # While the database was down: not ready, yet alive (a connection the killed worker took may be reset: 0).
    assert probes["readyz"][503] > 0 and set(probes["readyz"]) <= {503, 0}, probes
    assert probes["healthz"][200] > 0 and set(probes["healthz"]) <= {200, 0}, probes
    by_id = {record["id"]: record for record in records}
    assert len(by_id) == len(records), "a record was listed twice"
    for body in acknowledged:  # every acknowledged write reads back intact
        assert by_id.get(body["id"]) == {key: value for key, value in body.items() if key != "message"}
    # Beyond those, and the five after the restart, only writes whose answer was lost (the killed worker's, or a
    # commit the database made as it stopped) may be stored: never more than the requests left without a 201.
    unanswered = statuses[0] + statuses[503]
    assert len(records) - len(acknowledged) - len(resumed) <= unanswered, f"{len(records)} records, {statuses}"


@pytest.mark.promise(
    "On a new service, a model change (its own timestamp type too) becomes a migration that passes lint and tests",
    layer="install",
)
def test_a_model_change_on_a_new_service_becomes_a_migration_that_passes_lint_and_tests(baked: Baker) -> None:
    # A service of its own: the test edits its models. New, it has no database yet: make migration makes one.
    service = baked(dependency_manager="uv", python_version=EXAMPLE_PYTHON, database="sqlite",
                    resource_name="parcel", _lock_dependencies=True)  # fmt: skip
    service.install()
    models = service.path / "src" / service.name / "models.py"
    column = "    name: Mapped[str] = mapped_column(String(NAME_LENGTH))\n"
    assert column in models.read_text()
    # A column of the service's own timestamp type too: the migration must not import the service's code for it.
    added = (
        "    note: Mapped[str | None] = mapped_column(String(50))\n"
        "    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())\n"
    )
    models.write_text(models.read_text().replace(column, column + added))

    service.make("migration", "MESSAGE=add a note to parcels")

    (written,) = (service.path / "src" / service.name / "migrations" / "versions").glob("*_add_a_note_to_parcels.py")
    text = written.read_text()
    assert "add_column" in text
    assert 'sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True)' in text, text
    assert "UtcDateTime" not in text
    service.make("lint", "test")


@pytest.mark.promise(
    "SQLite takes concurrent writes from three workers; a bad database URL stops gunicorn in one line", layer="install"
)
def test_three_workers_write_to_sqlite_at_once_without_a_lock_error(baked: Baker) -> None:
    service = baked(dependency_manager="uv", python_version=EXAMPLE_PYTHON, database="sqlite",
                    resource_name=RESOURCE, _lock_dependencies=True)  # fmt: skip
    service.install()
    with serving(service, settings={"WORKERS": "3"}) as url:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = Counter(status for status, _ in pool.map(lambda n: create(url, f"sqlite {n}"), range(CREATES)))
        records = stored_records(url, RESOURCE)

    assert statuses == Counter({201: CREATES})
    assert sorted(record["name"] for record in records) == sorted(f"sqlite {n}" for n in range(CREATES))


@pytest.mark.promise(
    "SQLite takes concurrent writes from three workers; a bad database URL stops gunicorn in one line", layer="install"
)
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "_DATABASE_URL is not set; use postgresql://user:password@host:5432/database"),
        ("mysql://app:s3cr3t-pw@db/orders", "_DATABASE_URL='mysql://app:***@db/orders' is not a PostgreSQL URL"),
    ],
    ids=["missing", "malformed"],
)
def test_a_missing_or_malformed_database_url_stops_gunicorn_in_one_line_without_the_password(
    baked: Baker, url: str, expected: str
) -> None:
    service = baked(dependency_manager="uv", python_version=EXAMPLE_PYTHON, database="postgresql",
                    resource_name=RESOURCE, _lock_dependencies=True)  # fmt: skip
    service.install()
    prefix = service.env_prefix
    env = clean_environment({f"{prefix}_DATABASE_URL": url, f"{prefix}_PORT": str(free_port())})
    result = subprocess.run(
        [".venv/bin/gunicorn", "--config", "gunicorn.conf.py", f"{service.name}.core.wsgi:app"],
        cwd=service.path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"ERROR: {prefix}{expected}"), line
    assert "s3cr3t-pw" not in result.stdout + result.stderr


@pytest.mark.promise(
    "With no test database, PostgreSQL tests start their own server for a developer; root gets one line",
    layer="install",
)
@pytest.mark.skipif(os.geteuid() != 0, reason="root's refusal; as another user the tests start their own server")
def test_without_a_test_database_the_services_tests_stop_in_one_line_saying_what_to_set(baked: Baker) -> None:
    service = baked(dependency_manager="uv", python_version=EXAMPLE_PYTHON, database="postgresql",
                    resource_name=RESOURCE, _lock_dependencies=True)  # fmt: skip
    service.install()
    variable = f"{service.env_prefix}_TEST_DATABASE_URL"
    environment = {name: value for name, value in service.environment.items() if name != variable}
    result = subprocess.run(
        ["make", "test"], cwd=service.path, env=clean_environment(environment), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    # As root here, PostgreSQL's server cannot be started for the tests: the one line says what to set instead.
    stop = [line for line in (result.stdout + result.stderr).splitlines() if variable in line]
    assert len(stop) == 1 and "set" in stop[0], result.stdout[-2000:]


@pytest.fixture
def developer() -> Iterator[Developer]:
    """An ordinary user (as root, a throwaway account) with uv installed, and only the Pythons their PATH finds."""
    with ordinary_user() as user:
        uv = shutil.which("uv", path=str(TOOLS_BIN))
        assert uv is not None, f"no uv in {TOOLS_BIN}"
        user.install(Path(uv))
        yield user


@pytest.mark.promise(
    "With no test database, PostgreSQL tests start their own server for a developer; root gets one line",
    layer="install",
)
def test_as_an_ordinary_user_without_a_test_database_the_services_tests_start_a_server(
    baked: Baker, developer: Developer
) -> None:
    """What a developer does first: install and test, with PostgreSQL's server binaries and no database named.
    pytest-postgresql finds them and starts a throwaway server, which root never sees (the server refuses root)."""
    path = developer.environment()["PATH"]
    python = next((version for version in PYTHONS if shutil.which(f"python{version}", path=path)), None)
    assert python is not None, f"none of python{', python'.join(PYTHONS)} on an ordinary user's PATH ({path})"
    service = baked(dependency_manager="uv", python_version=python, database="postgresql", resource_name=RESOURCE,
                    _lock_dependencies=True)  # fmt: skip
    checkout = developer.take(service.path)

    developer.run("make", "install", cwd=checkout)
    output = developer.run("make", "test", cwd=checkout, timeout=300)

    summary = output.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ passed in [\d.]+s( \([\d:]+\))? =+", summary), output[-3000:]
