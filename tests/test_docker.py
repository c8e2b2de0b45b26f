"""Containers for real: each tool's image is built from the service directory and run on a Docker engine.

For Poetry, pip and uv, the example system's services on PostgreSQL, with the shared package (order_manager, from
the monorepo through wheels/) and without it (user_manager), and a service on SQLite: `make docker-build`, the
migrations run from the image as a one-off container, then `docker run --network host --read-only`. The image must
answer, store and read back, report healthy, run as a non-root user, hold no Poetry or uv, stay within its size
budget over its base image, and rebuild a code-only change from cached dependency layers. Figures are printed
(`pytest -s`) for the issue notes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kit.answers import BakedService, Baker
from kit.example import EXAMPLE_PYTHON, ExampleMonorepo
from kit.processes import clean_environment
from kit.processes import run as run_or_fail
from kit.serving import free_port, http, request_counts, wait_until_answers
from kit.template import MANAGERS, TEMPLATE_DIR
from kit.workers import example_system_group, one_group_per_case

pytestmark = [pytest.mark.docker, pytest.mark.network]

# Bytes over the base image, as `docker image ls` counts them, by database, each about 10 % over what was measured:
# Flask, gunicorn, gevent, prometheus_client, pydantic, pydantic-settings and flask-openapi3 about 35 MB; SQLAlchemy
# (with its compiled extensions) and Alembic about 31 MB more; psycopg with the libpq it bundles about 12 MB more
# again (78 MB in all). Everything is there as compiled bytecode too, so that a read-only container starts without
# compiling.
MAX_SIZE_OVER_BASE = {"none": 38_000_000, "sqlite": 72_000_000, "postgresql": 85_000_000}
RUNTIME_USER = "10001:10001"


def docker(*arguments: str, timeout: float = 900) -> str:
    result = subprocess.run(["docker", *arguments], capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"docker {' '.join(arguments)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout.strip()


@dataclass
class BuiltImage:
    service: BakedService
    tag: str
    build_seconds: float
    volume: str  # a named volume for a SQLite service's data

    @property
    def base(self) -> str:
        return f"python:{self.service.answers['python_version']}-slim"

    def inspect(self, template: str, image: str | None = None) -> str:
        return docker("image", "inspect", "--format", template, image or self.tag)


def build(service: BakedService, tag: str) -> float:
    started = time.monotonic()
    service.make("docker-build", IMAGE=tag, DOCKER_BUILD_FLAGS="--network host")
    return time.monotonic() - started


IMAGES = [(m, s) for m in MANAGERS for s in ("order", "user")] + [("uv", "sqlite")]


def image_id(case: tuple[str, str]) -> str:
    manager, which = case
    return f"dependency_manager={manager}," + ("database=sqlite" if which == "sqlite" else f"service={which}_manager")


def image_group(case: tuple[str, str]) -> str:
    """An example system's image is built in the worker that has that example system."""
    manager, which = case
    return image_id(case) if which == "sqlite" else example_system_group(manager)


@pytest.fixture(scope="module", params=one_group_per_case(IMAGES, image_id, group=image_group))
def image(
    request: pytest.FixtureRequest, docker_engine: None, example_monorepo: ExampleMonorepo, baked: Baker
) -> Iterator[BuiltImage]:
    manager, which = request.param
    if which == "sqlite":
        service = baked(dependency_manager=manager, python_version=EXAMPLE_PYTHON, database="sqlite",
                        resource_name="ledger_entry", _lock_dependencies=True)  # fmt: skip
    else:
        service = example_monorepo(manager)[which]
    # The process id keeps two suite runs on one engine (two checkouts) from replacing each other's images.
    tag = f"template-test/{service.dist_name}-{manager}-{which}-{os.getpid()}:latest"
    built = BuiltImage(service, tag, build(service, tag), volume=f"template-test-{which}-{manager}-{os.getpid()}")
    yield built
    subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True, check=False)
    subprocess.run(["docker", "volume", "rm", "--force", built.volume], capture_output=True, check=False)


def database_options(image: BuiltImage) -> list[str]:
    """What a container of the image needs for its database: the suite's PostgreSQL, or a volume for SQLite."""
    variable = f"{image.service.env_prefix}_DATABASE_URL"
    if image.service.answers["database"] == "postgresql":
        return ["--env", f"{variable}={image.service.environment[variable]}"]
    if image.service.answers["database"] == "sqlite":
        return ["--volume", f"{image.volume}:/var/lib/{image.service.name}"]
    return []


def upstream_options(image: BuiltImage) -> list[str]:
    """The URL of each service the image's service calls (order_manager of the example calls user_manager), required
    at start: where the suite points it."""
    upstreams = [name for name in image.service.environment if name.endswith("_URL") and "DATABASE" not in name]
    return [option for name in upstreams for option in ("--env", f"{name}={image.service.environment[name]}")]


@pytest.fixture(scope="module")
def container(image: BuiltImage) -> Iterator[tuple[str, str]]:
    """The image running with a read-only root file system on a free 127.0.0.1 port, its database migrated first by
    the image itself, as a one-off container: (container id, base URL)."""
    port = free_port()
    prefix = image.service.env_prefix
    if image.service.answers["database"] != "none":
        docker("run", "--rm", "--network", "host", "--read-only", *database_options(image), image.tag,
               "python", "-m", f"{image.service.name}.core.migrate")  # fmt: skip
    container_id = docker(
        "run", "--detach", "--network", "host", "--read-only", "--health-interval", "1s", *database_options(image),
        *upstream_options(image), "--env", f"{prefix}_HOST=127.0.0.1", "--env", f"{prefix}_PORT={port}", image.tag,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_answers(base_url + "/healthz", timeout=60)
        except Exception as error:  # whatever the way it failed to answer, its logs say why
            pytest.fail(f"{error!r}:\n{container_logs(container_id)}")
        yield container_id, base_url
    finally:
        subprocess.run(["docker", "rm", "--force", container_id], capture_output=True, check=False)


def container_logs(container_id: str) -> str:
    """What the container wrote to stdout and stderr (gunicorn's and the app's logs), for a failure message."""
    result = subprocess.run(["docker", "logs", container_id], capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr)[-5000:]


def wait_for_health(container_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = docker("inspect", "--format", "{{.State.Health.Status}}", container_id)
        if status in ("healthy", "unhealthy"):
            return status
        time.sleep(0.5)
    return status


@pytest.mark.promise(
    "Each image is healthy and serves as user 10001 on a read-only root, with no Poetry or uv", layer="docker"
)
def test_the_container_reports_healthy_and_serves_the_api(image: BuiltImage, container: tuple[str, str]) -> None:
    container_id, base_url = container
    assert wait_for_health(container_id) == "healthy", container_logs(container_id)

    assert http("GET", base_url + "/healthz").json() == {"status": "ok"}
    resource = image.service.answers["resource_name"]
    response = http("POST", f"{base_url}/api/{resource}", b'{"name": "in a container"}', "application/json")
    assert response.status == 201
    label = resource.replace("_", " ").capitalize()
    if image.service.answers.get("use_discount_calculator"):
        assert 0 <= response.json()["discount"] <= 20
    else:
        assert response.json()["message"] == f"{label} created"
    if image.service.answers["database"] != "none":
        stored = http("GET", base_url + response.headers["Location"]).json()
        assert stored["name"] == "in a container"


@pytest.mark.promise(
    "Each image is healthy and serves as user 10001 on a read-only root, with no Poetry or uv", layer="docker"
)
def test_the_container_runs_as_a_non_root_user(image: BuiltImage, container: tuple[str, str]) -> None:
    container_id, _ = container
    assert image.inspect("{{.Config.User}}") == RUNTIME_USER
    assert docker("exec", container_id, "python", "-c", "import os; print(os.getuid(), os.getgid())") == "10001 10001"


@pytest.mark.promise(
    "Each image is healthy and serves as user 10001 on a read-only root, with no Poetry or uv", layer="docker"
)
def test_the_container_serves_with_a_read_only_root_file_system(container: tuple[str, str]) -> None:
    container_id, base_url = container
    assert docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", container_id) == "true"
    probe = "import pathlib; pathlib.Path('/app/probe').write_text('x')"
    refused = subprocess.run(
        ["docker", "exec", container_id, "python", "-c", probe], capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert http("GET", base_url + "/readyz").status == 200


@pytest.mark.promise(
    "Metrics work on the read-only root file system, and the default image holds no OpenTelemetry", layer="docker"
)
def test_metrics_work_with_a_read_only_root_file_system_and_without_opentelemetry(
    image: BuiltImage, container: tuple[str, str]
) -> None:
    container_id, base_url = container
    resource = image.service.answers["resource_name"]
    key = ("POST", f"/api/{resource}", "201")
    before = request_counts(base_url).get(key, 0)
    for _ in range(3):
        assert http("POST", f"{base_url}/api/{resource}", b'{"name": "counted"}', "application/json").status == 201

    assert request_counts(base_url)[key] - before == 3
    # The default answer (no) leaves OpenTelemetry out of the image altogether.
    probe = "import importlib.util; print(importlib.util.find_spec('opentelemetry'))"
    assert docker("exec", container_id, "python", "-c", probe) == "None"


@pytest.mark.promise(
    "Each image is healthy and serves as user 10001 on a read-only root, with no Poetry or uv", layer="docker"
)
def test_the_runtime_image_holds_no_poetry_no_uv_and_no_pip_cache(image: BuiltImage) -> None:
    probe = (
        "import glob, json, shutil; print(json.dumps([shutil.which('poetry'), shutil.which('uv'), "
        "glob.glob('/opt/venv/bin/poetry*') + glob.glob('/opt/venv/bin/uv*') + glob.glob('/root/.cache/*')]))"
    )
    found = json.loads(docker("run", "--rm", "--network", "host", "--user", "0", image.tag, "python", "-c", probe))
    assert found == [None, None, []]


@pytest.mark.promise(
    "The image stays within its size budget over its base; a code-only change reuses the dependency layers",
    layer="docker",
)
def test_the_runtime_image_stays_within_its_size_budget_over_its_base(image: BuiltImage) -> None:
    size = int(image.inspect("{{.Size}}"))
    base = int(image.inspect("{{.Size}}", image.base))
    print(f"\n{image.tag}: {(size - base) / 1e6:.1f} MB over {image.base}, built in {image.build_seconds:.1f} s")
    assert size - base <= MAX_SIZE_OVER_BASE[image.service.answers["database"]]


@pytest.mark.promise("`make docker-run` starts the image; the example system runs under docker-compose", layer="docker")
def test_make_docker_run_starts_the_image_on_the_services_port(image: BuiltImage) -> None:
    port = free_port()
    prefix = image.service.env_prefix
    name = f"template-test-docker-run-{port}"
    flags = " ".join(["--network host", f"--name {name}", f"--env {prefix}_HOST=127.0.0.1", *database_options(image),
                      *upstream_options(image)])  # fmt: skip
    command = ["make", "docker-run", f"IMAGE={image.tag}", f"PORT={port}", f"DOCKER_RUN_FLAGS={flags}"]
    process = subprocess.Popen(command, cwd=image.service.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", process, timeout=60)
        assert http("GET", f"http://127.0.0.1:{port}/healthz").status == 200
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)
        process.wait(timeout=60)


@pytest.mark.promise(
    "The image stays within its size budget over its base; a code-only change reuses the dependency layers",
    layer="docker",
)
def test_a_code_only_change_rebuilds_on_cached_dependency_layers(image: BuiltImage) -> None:
    api = image.service.path / "src" / image.service.name / "api.py"
    original = api.read_text()
    before = json.loads(image.inspect("{{json .RootFS.Layers}}"))
    changed_tag = image.tag.replace(":latest", ":code-change")
    try:
        api.write_text(original + "\n# a code-only change\n")
        seconds = build(image.service, changed_tag)
        after = json.loads(image.inspect("{{json .RootFS.Layers}}", changed_tag))
    finally:
        api.write_text(original)
        subprocess.run(["docker", "image", "rm", "--force", changed_tag], capture_output=True, check=False)
    print(f"\n{image.tag}: code-only rebuild in {seconds:.1f} s")
    # Only the last layer (COPY src/) differs: the dependency environment is reused as it was.
    assert before[:-1] == after[:-1]
    assert before[-1] != after[-1]


@pytest.mark.promise("`make docker-run` starts the image; the example system runs under docker-compose", layer="docker")
@pytest.mark.xdist_group(example_system_group("uv"))
def test_the_example_system_runs_under_docker_compose(docker_engine: None, example_monorepo: ExampleMonorepo) -> None:
    services = example_monorepo("uv")
    root = services["order"].path.parent.parent
    for name in ("docker-compose.yml", "postgres-init.sql"):
        (root / name).write_text((TEMPLATE_DIR / "examples" / name).read_text())
    ports = {"order": free_port(), "user": free_port(), "postgres": free_port()}
    env = clean_environment(
        {
            "ORDER_MANAGER_PORT": str(ports["order"]),
            "USER_MANAGER_PORT": str(ports["user"]),
            "POSTGRES_PORT": str(ports["postgres"]),
        }
    )
    project = f"template-test-{ports['order']}"
    compose = ["docker-compose", "--project-name", project, "--file", str(root / "docker-compose.yml")]

    def run(*command: str) -> str:
        return run_or_fail(command, root, env, timeout=900)

    run("make", "-C", "services/order_manager", "wheels")
    try:
        run(*compose, "up", "--build", "--detach")
        for port in (ports["order"], ports["user"]):
            try:
                wait_until_answers(f"http://127.0.0.1:{port}/healthz", timeout=120)
            except Exception as error:
                logs = subprocess.run([*compose, "logs"], env=env, capture_output=True, text=True, check=False)
                pytest.fail(f"{error!r}:\n{(logs.stdout + logs.stderr)[-5000:]}")
        order_url, user_url = (f"http://127.0.0.1:{ports[which]}" for which in ("order", "user"))
        order = http("POST", f"{order_url}/api/order", b'{"name": "book"}', "application/json")
        user = http("POST", f"{user_url}/api/user", b'{"name": "ada"}', "application/json")
        assert order.json()["message"] == f"Order created, discount is {order.json()['discount']}."
        assert user.json()["message"] == "User created"
        # Stored, each in its own database, by the services the one-shot migrations prepared.
        assert http("GET", order_url + order.headers["Location"]).json()["name"] == "book"
        assert [item["name"] for item in http("GET", f"{user_url}/api/user").json()["items"]] == ["ada"]
        migrations = run(*compose, "ps", "--all", "order_manager_migrate", "user_manager_migrate")
        assert migrations.count("Exit 0") == 2, migrations
        # Each service's metrics directory is the tmpfs the compose file gives it (the root file system is read-only).
        assert request_counts(order_url)[("POST", "/api/order", "201")] == 1
    finally:
        run(*compose, "down", "--volumes", "--rmi", "local", "--timeout", "5")
