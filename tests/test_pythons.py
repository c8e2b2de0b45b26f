"""Every Python version the template offers: the service locks for it, installs, passes its own checks, and ships.

A pip lock is resolved for the service's own Python (uv pip compile --python-version), not for the one running
cookiecutter (or this suite). Versions this machine has no interpreter of are proven in a
container of their python:X-slim image (scripts/docker-base-images builds stand-ins where no registry answers).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_docker import docker

from kit.answers import PYTHON_PROOFS, BakedService, bake_with_cookies, case_id
from kit.processes import find_python
from kit.serving import free_port, http, wait_until_answers
from kit.template import LOCK_FILES, PYTHONS, TEMPLATE_CONTEXT, TOOLS_BIN

SUITE_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def other_host_python() -> str | None:
    """The newest offered version this machine has an interpreter of, other than the one running the suite."""
    for version in sorted(PYTHONS, key=lambda v: tuple(map(int, v.split("."))), reverse=True):
        if version != SUITE_PYTHON and find_python(version):
            return version
    return None


@pytest.mark.promise(
    "A pip lock pins every package with hashes, for the service's Python, and relocks to the same pins", layer="install"
)
@pytest.mark.install
def test_pip_lock_is_resolved_for_the_services_python_not_the_one_running_cookiecutter(baked: Any) -> None:
    target = other_host_python()
    if target is None:
        pytest.fail(f"needs an interpreter of an offered Python other than {SUITE_PYTHON}: {PYTHONS}")
    service = baked(dependency_manager="pip", python_version=target)
    # One requirement only the service's Python selects, one only older Pythons do: a lock resolved for the suite's
    # Python would miss the first, one resolved from an older Python would hold the second.
    requirements = service.path / "requirements.in"
    requirements.write_text(
        requirements.read_text() + f'six>=1.16 ; python_version == "{target}"\nidna>=3 ; python_version < "{target}"\n'
    )

    service.make("lock")  # what the post-gen hook runs, in a service that has no .venv yet

    lock = (service.path / "requirements.txt").read_text()
    pinned = {line.split("==")[0] for line in lock.splitlines() if "==" in line and not line.startswith(" ")}
    assert "six" in pinned and "idna" not in pinned, lock
    assert f"uv pip compile --universal --python-version {target} " in lock


@pytest.mark.promise(
    "A pip lock pins every package with hashes, for the service's Python, and relocks to the same pins", layer="install"
)
@pytest.mark.network
def test_without_the_services_python_uv_still_locks_a_pip_service_for_it(
    cookies: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # The suite's tools (uv among them) and the system's directories, none of pyenv's interpreters.
    path = os.pathsep.join([str(TOOLS_BIN), "/usr/bin", "/bin"])
    missing = [v for v in PYTHONS if shutil.which(f"python{v}", path=path) is None]
    assert missing, f"every offered Python is in {path}"
    monkeypatch.setenv("PATH", path)

    service = bake_with_cookies(cookies, dependency_manager="pip", python_version=missing[0], _lock_dependencies=True)

    assert "Locked in " in capfd.readouterr().out
    for name in LOCK_FILES["pip"]:
        assert f"--python-version {missing[0]} " in (service.path / name).read_text()
    assert not (service.path / ".venv").exists()


@pytest.mark.promise(
    "A pip lock pins every package with hashes, for the service's Python, and relocks to the same pins", layer="install"
)
def test_without_uv_or_its_python_the_pip_lock_is_left_to_make_lock_and_says_why(
    cookies: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # make and git only: neither uv nor any offered Python.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "git"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    monkeypatch.setenv("PATH", str(bin_dir))
    version = PYTHONS[0]

    service = bake_with_cookies(cookies, dependency_manager="pip", python_version=version, _lock_dependencies=True)

    output = capfd.readouterr().out
    assert f"Not locked yet: uv or python{version} not found on PATH." in output
    assert "Run `make lock` in the service (it needs uv or python" in output
    assert not (service.path / "requirements.txt").exists()
    assert not (service.path / ".venv").exists()


# --- every offered version: lock, install, the service's own test and lint; then its image ----------------------
# Which manager proves which version (PYTHON_PROOFS) is decided in kit/answers.py: all three on the default, one on
# every other version. Where this machine has an interpreter, test_services.py runs the verbs on the host; here,
# the versions it has none of run inside a container of their python:X-slim image.
CONTAINER_PROOFS = [(manager, version) for manager, version in PYTHON_PROOFS if not find_python(version)]
VERBS = ("lock", "install", "test", "lint")


def proofs(pairs: list[tuple[str, str]]) -> list[Any]:
    """Each (manager, version) pair as a test parameter, in the worker of the service it proves: its version's
    container run, or the service the install layer bakes and installs on this machine."""
    return [
        pytest.param(
            manager,
            version,
            id=f"{manager}-py{version}",
            marks=pytest.mark.xdist_group(
                f"python {version} in a container"
                if (manager, version) in CONTAINER_PROOFS
                else case_id({"dependency_manager": manager, "python_version": version})
            ),
        )
        for manager, version in pairs
    ]


# Inside the container, for the tools there: pip's, uv's and Poetry's (requests) CA settings, and no download of a
# managed interpreter by uv (the image's Python is the one to prove).
CONTAINER_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
    "UV_PYTHON_DOWNLOADS": "never",
}


def tool_requirements(manager: str) -> list[str]:
    """What a developer installs to run the manager's `make` verbs (a pip service installs uv into .venv itself)."""
    pins = TEMPLATE_CONTEXT["__tool_pins"]
    return {"poetry": [pins["poetry"], pins["poetry_export"]], "uv": [pins["uv"]], "pip": []}[manager]


# Where the services sit inside the container. Not under /tmp: the services' own pytest sessions there clean up
# old /tmp/pytest-of-<user>/pytest-N directories, and a mount inside the suite's own basetemp was one of them.
CONTAINER_ROOT = "/proofs"


@dataclass
class ContainerRun:
    """One manager's service after its verbs ran in the container: where it is, the verb that failed, the logs."""

    service: BakedService
    failed: str | None
    logs: dict[str, str]


@pytest.fixture(scope="session")
def proven_in_container(
    baked: Any, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], dict[str, ContainerRun]]:
    """``proven_in_container(version)``: one container run per version does every verb for each of its managers."""
    cache: dict[str, dict[str, ContainerRun]] = {}

    def get(version: str) -> dict[str, ContainerRun]:
        if version not in cache:
            managers = [manager for manager, v in CONTAINER_PROOFS if v == version]
            root = tmp_path_factory.mktemp(f"python{version}")
            services = {}
            for manager in managers:
                generated = baked(dependency_manager=manager, python_version=version)
                shutil.copytree(generated.path, root / manager / generated.path.name)
                services[manager] = BakedService(root / manager / generated.path.name, generated.answers)
            tools = " ".join(pin for manager in managers for pin in tool_requirements(manager))
            verbs = " ".join(VERBS)
            script = "\n".join(
                [
                    "set -e",
                    "apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null",
                    f"python -m pip install --quiet --no-cache-dir --root-user-action=ignore {tools}" if tools else "",
                    # The managers side by side: most of their time is waiting for the package index.
                    *(
                        f"(cd {CONTAINER_ROOT}/{manager}/{service.path.name} && for verb in {verbs}; do"
                        f" make $verb >../$verb.log 2>&1 || {{ echo $verb >../failed; break; }}; done) &"
                        for manager, service in services.items()
                    ),
                    "wait",
                    f"chown -R {os.getuid()}:{os.getgid()} {CONTAINER_ROOT}",
                ]
            )
            env_options = [option for key, value in CONTAINER_ENV.items() for option in ("--env", f"{key}={value}")]
            docker(
                "run", "--rm", "--network", "host", "--volume", f"{root}:{CONTAINER_ROOT}", *env_options,
                f"python:{version}-slim", "sh", "-c", script,
            )  # fmt: skip
            cache[version] = {}
            for manager, service in services.items():
                failed_file = service.path.parent / "failed"
                logs = {log.stem: log.read_text() for log in service.path.parent.glob("*.log")}
                failed = failed_file.read_text().strip() if failed_file.exists() else None
                cache[version][manager] = ContainerRun(service, failed, logs)
        return cache[version]

    return get


@pytest.mark.install
@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
@pytest.mark.parametrize(("manager", "version"), proofs(CONTAINER_PROOFS))
def test_in_a_python_container_the_service_locks_installs_and_passes_its_tests_and_lint(
    proven_in_container: Callable[[str], dict[str, ContainerRun]], manager: str, version: str
) -> None:
    run = proven_in_container(version)[manager]
    assert run.failed is None, f"`make {run.failed}` failed on Python {version}:\n{run.logs[run.failed][-3000:]}"
    for name in LOCK_FILES[manager]:
        assert (run.service.path / name).stat().st_size > 0
    if manager == "pip":
        lock = (run.service.path / "requirements.txt").read_text()
        assert f"uv pip compile --universal --python-version {version} " in lock
    venv = (run.service.path / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(rf"^version(_info)? = {re.escape(version)}\.", venv, re.MULTILINE), venv
    assert re.search(r"\b\d+ passed\b", run.logs["test"]) and "failed" not in run.logs["test"]


def service_for_image(manager: str, version: str, proven_in_container: Any, baked: Any) -> BakedService:
    """The locked service: from the container run where the machine lacks the version, else as generated here."""
    if (manager, version) in CONTAINER_PROOFS:
        run = proven_in_container(version)[manager]
        if run.failed:
            pytest.fail(f"the service for Python {version} did not lock in its container (`make {run.failed}`)")
        return run.service
    return baked(dependency_manager=manager, python_version=version, _lock_dependencies=True)


@pytest.mark.install
@pytest.mark.docker
@pytest.mark.usefixtures("docker_engine")
@pytest.mark.parametrize(("manager", "version"), proofs(PYTHON_PROOFS))
def test_the_image_for_each_python_builds_and_serves(
    proven_in_container: Callable[[str], dict[str, ContainerRun]], baked: Any, manager: str, version: str
) -> None:
    service = service_for_image(manager, version, proven_in_container, baked)
    tag = f"template-test/python{version}-{manager}-{os.getpid()}:latest"
    port = free_port()
    prefix = service.env_prefix
    try:
        service.make("docker-build", IMAGE=tag, DOCKER_BUILD_FLAGS="--network host")
        container = docker(
            "run", "--detach", "--network", "host", "--read-only",
            "--env", f"{prefix}_HOST=127.0.0.1", "--env", f"{prefix}_PORT={port}", tag,
        )  # fmt: skip
        try:
            wait_until_answers(f"http://127.0.0.1:{port}/healthz", timeout=60)
            served = docker("exec", container, "python", "-c", "import platform; print(platform.python_version())")
            response = http("POST", f"http://127.0.0.1:{port}/api/order", b"{}", "application/json")
        finally:
            subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True, check=False)
    assert served.startswith(f"{version}.")
    assert response.status == 201
    assert response.json() == {"message": "Order created"}
