"""The default python_version is the newest offered Python the generating machine has (hooks/pre_prompt.py), so a
service generated with every default locks, installs and passes its tests where it was generated; an explicit
answer is never changed.

Each test arranges PATH itself: a directory holding ``python3.X`` for the versions it says the machine has (links to
real interpreters, never pyenv's shims), then the suite's tools and the system's directories, which hold no
offered Python newer than the machine's own ``python3``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kit.answers import BakedService, read_bake, run_cookiecutter
from kit.processes import find_python, real_interpreter
from kit.template import PYTHONS, TEMPLATE_DIR, TOOLS_BIN

NEWEST_OFFERED = PYTHONS[0]


def interpreter_of(version: str) -> str:
    found = real_interpreter(version)
    if found is None:
        pytest.fail(f"this test needs an interpreter of Python {version}")
    return found


def path_with_pythons(root: Path, versions: list[str], *, tools: bool) -> str:
    """A PATH on which the newest offered Pythons are exactly ``versions`` (plus the system's own python3)."""
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for version in versions:
        (bin_dir / f"python{version}").symlink_to(interpreter_of(version))
    system = [directory for directory in ("/usr/local/bin", "/usr/bin", "/bin") if Path(directory).is_dir()]
    # The suite's environment holds poetry and uv (and its own python3.X, the suite's Python).
    return os.pathsep.join([str(bin_dir), *([str(TOOLS_BIN)] if tools else []), *system])


def newest_on(path: str) -> str | None:
    """The newest offered version that runs from ``path``, as the hook judges it."""
    for version in PYTHONS:
        for directory in path.split(os.pathsep):
            candidate = Path(directory) / f"python{version}"
            if candidate.exists() and subprocess.run([candidate, "-c", ""], check=False).returncode == 0:
                return version
    return None


def generate(output: Path, path: str, *answers: str) -> tuple[BakedService, str]:
    """``cookiecutter --no-input`` as a user runs it, with PATH as given; the service and what was printed."""
    result = run_cookiecutter("--output-dir", str(output), str(TEMPLATE_DIR), *answers, env={"PATH": path}, check=True)
    return read_bake(output / "order_manager"), result.stdout


def older_pythons_here() -> list[str]:
    """Two offered versions older than the newest offered that this machine has interpreters of, newest first."""
    here = [version for version in PYTHONS[1:] if find_python(version)]
    if len(here) < 2:
        pytest.fail(f"needs two offered Pythons older than {NEWEST_OFFERED}; this machine has {here}")
    return here[:2]


@pytest.mark.promise(
    "The default Python is the newest offered one the machine has; a team bakes with its own pytest-cookies",
    layer="offline",
)
def test_the_default_is_the_newest_offered_python_on_path(tmp_path: Path) -> None:
    versions = older_pythons_here()
    path = path_with_pythons(tmp_path, versions[::-1], tools=False)
    expected = newest_on(path)
    assert expected == versions[0], f"PATH was arranged for {versions[0]}, the hook would see {expected}"

    service, output = generate(tmp_path / "out", path, "_lock_dependencies=no")

    assert service.answers["python_version"] == expected
    assert f'requires-python = ">={expected}"' in (service.path / "pyproject.toml").read_text()
    assert f"Created order_manager/ (poetry, Python {expected})." in output


@pytest.mark.promise(
    "The default Python is the newest offered one the machine has; a team bakes with its own pytest-cookies",
    layer="offline",
)
def test_an_explicit_python_version_is_never_changed(tmp_path: Path) -> None:
    path = path_with_pythons(tmp_path, older_pythons_here(), tools=False)

    service, _ = generate(tmp_path / "out", path, f"python_version={NEWEST_OFFERED}", "_lock_dependencies=no")

    assert service.answers["python_version"] == NEWEST_OFFERED


def test_without_any_offered_python_the_default_is_the_newest_offered(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    service, output = generate(tmp_path / "out", str(empty), "_lock_dependencies=no")

    assert service.answers["python_version"] == NEWEST_OFFERED
    assert f"Created order_manager/ (poetry, Python {NEWEST_OFFERED})." in output


@pytest.mark.install
@pytest.mark.network
@pytest.mark.parametrize("manager", ["poetry", "pip", "uv"], ids=lambda manager: f"dependency_manager={manager}")
def test_a_service_with_every_default_locks_installs_and_passes_its_tests(tmp_path: Path, manager: str) -> None:
    versions = older_pythons_here()
    path = path_with_pythons(tmp_path, versions, tools=True)

    service, _ = generate(tmp_path / "out", path, f"dependency_manager={manager}")
    environment = {"PATH": path}

    assert service.answers["python_version"] == versions[0]
    service.run("make", "install", env=environment)
    assert " passed" in service.run("make", "test", env=environment)
