"""Fixtures only: the suite's shared, expensive things, each made once. Helpers live in the kit (kit/)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from kit.answers import BakedService, Baker, bake_with_cookies, case_id, install_matrix
from kit.example import ExampleMonorepo, build_example_monorepo, copy_shared_package, mirror_index_packages
from kit.postgres import PostgresGetter, PostgresServer, database_environment
from kit.processes import HIDDEN_VARIABLES, clean_environment, link_interpreters, process_group
from kit.serving import free_port, wait_until_answers
from kit.template import PYTHONS, TOOLS_BIN

# Which tests share a pytest-xdist worker: a hook, found here by its name.
from kit.workers import one_group_per_case, pytest_collection_modifyitems  # noqa: F401

# How many examples the fuzz tests bake: "full", the default and what CI runs, or "edit", a fifth of them, for the
# edit-test loop (`make test-offline` passes --hypothesis-profile=edit).
settings.register_profile("full", max_examples=30)
settings.register_profile("edit", max_examples=6)
settings.load_profile("full")


@pytest.fixture(scope="session", autouse=True)
def tools_on_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The generated Makefiles call poetry, uv and python3.X: take the tools from the test environment and the
    offered Pythons this machine has from their installations, and keep the pip settings of the machine running the
    suite out of generated locks. Undone when the session ends."""
    interpreters = link_interpreters(tmp_path_factory.mktemp("interpreters"), PYTHONS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", os.pathsep.join([str(interpreters), str(TOOLS_BIN), os.environ["PATH"]]))
        for key in HIDDEN_VARIABLES:
            patch.delenv(key, raising=False)
        patch.setenv("PIP_CONFIG_FILE", os.devnull)
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresGetter]:
    """``postgres()``: the suite's PostgreSQL server, started the first time a test needs it, removed at the end."""
    started: list[PostgresServer] = []

    def get() -> PostgresServer:
        if not started:
            server = PostgresServer()
            started.append(server)
            server.start()
        return started[0]

    yield get
    for server in started:
        server.remove()


@pytest.fixture(scope="session")
def baked(cookies_session: Any, postgres: PostgresGetter) -> Baker:
    """``baked(**answers)``: a service generated once per distinct set of answers in the whole session, through
    pytest-cookies' session-wide ``cookies_session``.

    Bakes skip the lock unless a test asks for it (``_lock_dependencies=True``): rendering checks need no index. A
    service with a database gets one (kit.postgres.database_environment).
    """
    cache: dict[tuple[tuple[str, str], ...], BakedService] = {}

    def get(**answers: Any) -> BakedService:
        answers = {"_lock_dependencies": False, **answers}
        key = tuple(sorted((name, repr(value)) for name, value in answers.items()))
        if key not in cache:
            service = bake_with_cookies(cookies_session, **answers)
            service.environment = database_environment(service, postgres)
            cache[key] = service
        return cache[key]

    return get


@pytest.fixture(scope="session")
def shared_package_dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared package built once, as a wheel and an sdist, with its standard build backend, from a copy without
    the bytecode a test run leaves: the same sources give the same files, so a package index's hashes, which Poetry
    caches by source name, stay true from one run to the next."""
    out = tmp_path_factory.mktemp("dists")
    source = copy_shared_package(tmp_path_factory.mktemp("shared-package-source"))
    subprocess.run(
        [str(TOOLS_BIN / "uv"), "build", "--quiet", "--out-dir", str(out), str(source)],
        check=True,
        env=clean_environment(),
    )
    return {"wheel": next(out.glob("*.whl")), "sdist": next(out.glob("*.tar.gz"))}


@pytest.fixture(scope="session")
def private_index(tmp_path_factory: pytest.TempPathFactory, shared_package_dists: dict[str, Path]) -> Iterator[str]:
    """A real pypiserver on 127.0.0.1 holding the shared package and everything a service installs, nothing else.

    The third-party distributions are mirrored from PyPI first, as a company mirror would hold them; the server
    runs with fallback to PyPI disabled, so a service that installs from it uses that index alone.
    """
    packages = tmp_path_factory.mktemp("index")
    for dist in shared_package_dists.values():
        shutil.copy(dist, packages)
    mirror_index_packages(packages)
    port = free_port()
    command = [str(TOOLS_BIN / "pypi-server"), "run", "--interface", "127.0.0.1", "--port", str(port),
               "--disable-fallback", "--authenticate", ".", "--passwords", ".", str(packages)]  # fmt: skip
    with process_group(command, packages, os.environ, subprocess.DEVNULL) as process:
        url = f"http://127.0.0.1:{port}/simple/"
        wait_until_answers(url, process)
        yield url


@pytest.fixture(scope="session")
def example_monorepo(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresGetter) -> ExampleMonorepo:
    """``example_monorepo(manager)``: the example system for one dependency manager
    (kit.example.build_example_monorepo), generated and locked once per session."""
    cache: dict[str, dict[str, BakedService]] = {}

    def get(manager: str) -> dict[str, BakedService]:
        if manager not in cache:
            cache[manager] = build_example_monorepo(tmp_path_factory.mktemp(f"monorepo-{manager}"), manager, postgres)
        return cache[manager]

    return get


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (with the reason) where no engine answers; `.ci/run` starts one and fails if it cannot."""
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        reason = "no Docker engine answers here; start one with scripts/docker-engine"
        if os.environ.get("TEMPLATE_TESTS_REQUIRE_DOCKER"):
            pytest.fail(reason + " (TEMPLATE_TESTS_REQUIRE_DOCKER is set, as in CI)")
        pytest.skip(reason)


@pytest.fixture(scope="module", params=one_group_per_case(install_matrix(), case_id))
def installed(request: pytest.FixtureRequest, baked: Baker) -> BakedService:
    """A service of each install_matrix() case, locked at generation and installed with `make install`; the bake
    and the install are shared by every module that asks (test_services.py, test_observability.py)."""
    service = baked(**request.param, _lock_dependencies=True)
    service.install()
    return service


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Fail the test after which /dev/null is no longer the null device: every later subprocess would fail with it,
    far from the cause (a CI run once lost it midway and failed 110 tests)."""
    yield
    try:
        null_device = stat.S_ISCHR(os.stat(os.devnull).st_mode)
    except OSError:
        null_device = False
    if not null_device:
        pytest.fail(f"{os.devnull} is gone or no longer a character device after {item.nodeid}", pytrace=False)
