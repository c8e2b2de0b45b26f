"""Fixtures that carry the mechanics: bake a service once per combination, run its own commands, serve it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support import (
    HIDDEN_VARIABLES,
    clean_environment,
    find_python,
    free_port,
    process_group,
    wait_until_answers,
)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# Request body limit of served services; small, so a refused body fits in socket buffers and the 413 is read.
MAX_CONTENT_LENGTH = 4096
TOOLS_BIN = Path(sys.executable).parent  # cookiecutter, poetry, uv, pip-compile, ruff of the test environment
SHARED_PACKAGE_DIR = TEMPLATE_DIR / "libs" / "discount_calculator"


@pytest.fixture(scope="session", autouse=True)
def tools_on_path() -> None:
    """The generated Makefiles call poetry, uv and pip-compile: take them from the test environment."""
    os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ['PATH']}"
    # pip settings of the machine running the suite must not leak into generated lock files (post-gen locks).
    for key in HIDDEN_VARIABLES:
        os.environ.pop(key, None)
    os.environ["PIP_CONFIG_FILE"] = os.devnull


def python_executable(version: str) -> str:
    """An interpreter of ``version`` (see support.find_python); the suite needs 3.11, 3.12 and 3.13."""
    found = find_python(version)
    if found is None:
        pytest.fail(f"no working python{version} here; the suite needs Python 3.11, 3.12 and 3.13")
    return found


@dataclass
class BakedService:
    """A service generated from the template, with helpers to run its own commands inside it."""

    path: Path
    answers: dict[str, Any]
    installed: bool = field(default=False)

    @property
    def name(self) -> str:
        return str(self.answers["service_name"])

    def run(self, *command: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
        result = subprocess.run(
            command,
            cwd=self.path,
            env=clean_environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` failed in {self.path.name} ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def make(self, *targets: str, **variables: str) -> str:
        return self.run("make", *targets, *(f"{key}={value}" for key, value in variables.items()))

    def install(self) -> None:
        """``make install`` once per baked service, with the interpreter of its Python version."""
        if not self.installed:
            self.make("install", PYTHON=python_executable(str(self.answers["python_version"])))
            self.installed = True

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if ".venv" not in p.parts and p.is_file())


def answers_with_defaults(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The full set of answers a bake with ``answers`` uses: cookiecutter.json's defaults, then ``answers``."""
    defaults = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    merged = {key: value[0] if isinstance(value, list) else value for key, value in defaults.items()}
    merged = {key: value for key, value in merged.items() if not key.startswith("_")}
    merged.update(answers)
    if "resource_name" not in answers:
        merged["resource_name"] = str(merged["service_name"]).split("_")[0]
    return merged


@pytest.fixture(scope="session")
def baked(cookies_session: Any) -> Any:
    """``baked(**answers)``: a service generated once per distinct set of answers in the whole session.

    Bakes skip the lock unless a test asks for it (``_lock_dependencies=True``): rendering checks need no index.
    """
    cache: dict[str, BakedService] = {}

    def get(**answers: Any) -> BakedService:
        answers = {"_lock_dependencies": False, **answers}
        key = json.dumps(answers, sort_keys=True)
        if key not in cache:
            result = cookies_session.bake(extra_context=answers, template=str(TEMPLATE_DIR))
            if result.exit_code != 0:
                pytest.fail(f"baking {answers} failed: {result.exception!r}")
            cache[key] = BakedService(path=result.project_path, answers=answers_with_defaults(answers))
        return cache[key]

    return get


@contextmanager
def serving(
    service: BakedService, command: list[str] | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``make serve`` (gunicorn) on a free 127.0.0.1 port; yield the base URL; stop what was started.

    ``settings``: more of the service's variables, without their prefix (``{"ACCESS_LOG": "true"}``).
    The server's output is in ``serve.log`` in the service's directory.
    """
    port = free_port()
    prefix = service.name.upper()
    env = clean_environment(
        {
            f"{prefix}_HOST": "127.0.0.1",
            f"{prefix}_PORT": str(port),
            f"{prefix}_WORKERS": "2",
            f"{prefix}_MAX_CONTENT_LENGTH": str(MAX_CONTENT_LENGTH),
            **{f"{prefix}_{name}": value for name, value in (settings or {}).items()},
        }
    )
    with (
        (service.path / "serve.log").open("wb") as log,
        process_group(command or ["make", "serve"], service.path, env, log) as process,
    ):
        base_url = f"http://127.0.0.1:{port}"
        wait_until_answers(base_url + "/healthz", process)
        yield base_url


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, content_type: str | None = None) -> HttpResponse:
    """One real HTTP request; 4xx and 5xx come back as responses, not exceptions."""
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


def bake_into(output_dir: Path, **answers: Any) -> BakedService:
    """Generate a service into ``output_dir`` (e.g. a monorepo's services/), locking it in place."""
    from cookiecutter.main import cookiecutter

    output_dir.mkdir(parents=True, exist_ok=True)
    project = cookiecutter(str(TEMPLATE_DIR), no_input=True, extra_context=answers, output_dir=str(output_dir))
    return BakedService(path=Path(project), answers=answers_with_defaults(answers))


@pytest.fixture(scope="session")
def shared_package_dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shared package built once, as a wheel and an sdist, with its standard build backend."""
    out = tmp_path_factory.mktemp("dists")
    subprocess.run(
        [str(TOOLS_BIN / "uv"), "build", "--quiet", "--out-dir", str(out), str(SHARED_PACKAGE_DIR)],
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
    # Wheels for every Python version the template supports, as a real mirror holds: pip-compile resolves for the
    # interpreter it runs on, uv and Poetry for every version the service allows.
    for version in ("3.11", "3.12", "3.13"):
        subprocess.run(
            [
                str(TOOLS_BIN / "python"),
                "-m",
                "pip",
                "download",
                "--quiet",
                "--dest",
                str(packages),
                "--only-binary",
                ":all:",
                "--python-version",
                version,
                *MIRRORED_REQUIREMENTS,
            ],
            check=True,
            env=clean_environment(),
            timeout=600,
        )
    port = free_port()
    command = [str(TOOLS_BIN / "pypi-server"), "run", "--interface", "127.0.0.1", "--port", str(port),
               "--disable-fallback", "--authenticate", ".", "--passwords", ".", str(packages)]  # fmt: skip
    with process_group(command, packages, os.environ, subprocess.DEVNULL) as process:
        url = f"http://127.0.0.1:{port}/simple/"
        wait_until_answers(url, process)
        yield url


# The Python version the private-index tests use, and what the index mirrors for it: a service's runtime and
# development dependencies and the build backends of the three tools.
INDEX_PYTHON = "3.12"
MIRRORED_REQUIREMENTS = [
    "flask>=3.1,<4",
    "gunicorn>=23,<24",
    "prometheus-client>=0.20,<1",
    "mypy>=1.13",
    "pytest>=8.3",
    "ruff>=0.8",
    "cyclonedx-bom>=7.5",
    "setuptools>=77",
    "uv_build>=0.8,<1",
    "poetry-core>=2.1,<3",
    "pip-tools>=7.4",
    # `make update`: cruft and its merge driver's libraries, with everything they depend on.
    "cruft>=2.16,<3",
    "packaging>=24",
    "tomlkit>=0.13",
    # Needed on other platforms only (click and pytest use it on Windows), yet lockers resolve for every platform.
    "colorama",
]


@pytest.fixture(scope="session")
def example_monorepo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``example_monorepo(manager)``: the example system for one dependency manager, generated and locked once.

    <root>/libs/discount_calculator (a copy of the shared package), <root>/services/order_manager (with the
    package, by path) and <root>/services/user_manager (without it). Returns {"order": ..., "user": ...}.
    """
    cache: dict[str, dict[str, BakedService]] = {}

    def get(manager: str) -> dict[str, BakedService]:
        if manager not in cache:
            root = tmp_path_factory.mktemp(f"monorepo-{manager}")
            shutil.copytree(
                SHARED_PACKAGE_DIR, root / "libs" / "discount_calculator", ignore=shutil.ignore_patterns("__pycache__")
            )
            common = {"dependency_manager": manager, "python_version": "3.12", "_lock_dependencies": True}
            cache[manager] = {
                "order": bake_into(
                    root / "services",
                    service_name="order_manager",
                    use_discount_calculator=True,
                    discount_calculator_path="../../libs/discount_calculator",
                    **common,
                ),
                "user": bake_into(root / "services", service_name="user_manager", **common),
            }
        return cache[manager]

    return get
