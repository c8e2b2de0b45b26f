"""Answers: each bad answer is refused with one line that names it, a non-zero exit, and nothing written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from kit.answers import cookiecutter_scratch, run_cookiecutter
from kit.template import TEMPLATE_DIR

REFUSALS = [
    # (answer, value, words the first line of output must contain)
    ("service_name", "OrderManager", "service_name 'OrderManager' is not an ASCII snake_case name"),
    ("service_name", "order-manager", "is not an ASCII snake_case name"),
    ("service_name", "ordér_manager", "is not an ASCII snake_case name"),
    ("service_name", "order__manager", "is not an ASCII snake_case name"),
    ("service_name", "../evil", "is not an ASCII snake_case name"),
    ("service_name", "class", "service_name 'class' is a Python keyword"),
    ("service_name", "match", "is a Python keyword"),
    ("service_name", "json", "clashes with the Python standard library"),
    ("service_name", "flask", "clashes with a module or dependency of the generated service"),
    ("service_name", "discount_calculator", "clashes with a module or dependency"),
    ("service_name", "a" * 64, "service_name is 64 characters long; use at most 63"),
    ("resource_name", "2orders", "resource_name '2orders' is not an ASCII snake_case name"),
    ("resource_name", "order-items", "resource_name 'order-items' is not an ASCII snake_case name"),
    ("port", "80", "port '80' is not a valid port; use a number from 1024 to 65535"),
    ("port", "70000", "use a number from 1024 to 65535"),
    ("port", "http", "use a number from 1024 to 65535"),
    ("port", "08000", "port '08000' is not a valid port"),
    ("port", " 8000", "is not a valid port"),
    ("package_index_url", "ftp://mirror.example.com/simple/", "is not an http(s) URL"),
    ("package_index_url", "pypi.example.com/simple", "is not an http(s) URL"),
    ("package_index_url", "http://[", "is not an http(s) URL"),
    ("package_index_url", "https://pypi.example.com/$(whoami)/simple/", "is not an http(s) URL"),
    ("description", "two\nlines", "description contains a control character"),
    ("author_name", "tab\there", "author_name contains a control character"),
    ("discount_calculator_path", "/abs/libs/discount_calculator", "is not a relative POSIX path"),
    ("discount_calculator_path", "../my libs/dc#1", "is not a relative POSIX path"),
    ("use_discount_calculator", "yes", "discount_calculator_path is blank and package_index_url is PyPI"),
    ("upstream_services", "user-manager", "upstream_services names 'user-manager', which is not a snake_case"),
    ("upstream_services", "billing,,users", "upstream_services 'billing,,users' has an empty name between commas"),
    ("upstream_services", "billing, billing", "upstream_services names 'billing' twice"),
    ("upstream_services", "billing, order_manager", "upstream_services names 'order_manager', the service itself"),
    ("upstream_services", "import", "upstream_services names 'import', which is a Python keyword"),
    ("upstream_services", "database", "upstream_services names 'database', whose settings would be the service's"),
    # Private variables are derived, not prompted for; extra_context can still set one.
    ("__dist_name", "evil", "__dist_name 'evil' is derived from service_name and cannot be set"),
    ("__env_prefix", "OTHER", "__env_prefix 'OTHER' is derived from service_name"),
    ("__resource_label", "thing", "__resource_label 'thing' is derived from resource_name"),
    ("__upstreams", "billing", "__upstreams 'billing' is derived from upstream_services"),
]
# Choices outside the list never reach our hook: cookiecutter itself refuses them, naming the variable.
REFUSED_BY_COOKIECUTTER = [
    ("dependency_manager", "conda", "dependency_manager"),
    ("python_version", "3.9", "python_version"),
    ("use_discount_calculator", "maybe", "use_discount_calculator"),
]


def generate(output_dir: Path, *answers: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cookiecutter("--output-dir", str(output_dir), str(TEMPLATE_DIR), *answers, env=env, timeout=120)


# cookiecutter's own report of a hook that exited non-zero (with cookiecutter's traceback) follows the hook's output.
HOOK_FAILED = "ERROR: Stopping generation because pre_gen_project hook script didn't exit successfully"


def hook_output(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines the pre-gen hook printed itself: everything before cookiecutter reports the hook's failure.

    The hook runs from a temporary copy, so a traceback of the hook names no file of this repository; a hook that
    crashed after printing its ERROR line shows here as more lines than that one.
    """
    printed, reported, _ = result.stdout.partition(HOOK_FAILED)
    assert reported, f"cookiecutter did not report a failed pre-gen hook:\n{result.stdout}"
    return printed.strip().splitlines()


@pytest.mark.promise(
    "A bad answer is refused before anything is written, in one `ERROR:` line saying what is valid", layer="offline"
)
@pytest.mark.parametrize(("key", "value", "expected"), REFUSALS, ids=[f"{k}={v[:20]!r}" for k, v, _ in REFUSALS])
def test_a_bad_answer_is_refused_first_in_one_line_and_nothing_is_left(
    tmp_path: Path, key: str, value: str, expected: str
) -> None:
    result = generate(tmp_path, f"{key}={value}", "_lock_dependencies=no")

    assert result.returncode != 0
    first_line = result.stdout.strip().splitlines()[0]
    assert first_line.startswith("ERROR: "), result.stdout
    assert expected in first_line
    assert "; use " in first_line or "; choose " in first_line  # says what would be valid
    assert list(tmp_path.iterdir()) == [], "a refused answer left files behind"
    assert hook_output(result) == [first_line], "the hook printed more than its one line (a crash?)"


@pytest.mark.promise(
    "A bad answer is refused before anything is written, in one `ERROR:` line saying what is valid", layer="offline"
)
@pytest.mark.parametrize(("key", "value", "named"), REFUSED_BY_COOKIECUTTER, ids=lambda v: str(v))
def test_an_unknown_choice_is_refused_by_cookiecutter_and_nothing_is_left(
    tmp_path: Path, key: str, value: str, named: str
) -> None:
    result = generate(tmp_path, f"{key}={value}")

    assert result.returncode != 0
    assert named in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.promise("A service name that is a path touches nothing outside the output directory", layer="offline")
@pytest.mark.parametrize("name", ["x/../..", "x/..", "a/b", "..", ".", "", "---", "A" * 300])
def test_a_service_name_that_is_a_path_touches_nothing_outside_the_output_directory(tmp_path: Path, name: str) -> None:
    # cookiecutter makes and, on refusal, removes the project directory before our hook can look at the name.
    output, neighbour = tmp_path / "out", tmp_path / "neighbour.txt"
    output.mkdir()
    neighbour.write_text("keep me")

    result = generate(output, f"service_name={name}", "_lock_dependencies=no")

    assert result.returncode != 0
    assert result.stdout.startswith("ERROR: service_name "), result.stdout
    assert len(hook_output(result)) == 1, result.stdout
    assert neighbour.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neighbour.txt", "out"]
    assert list(output.iterdir()) == []


@pytest.mark.promise(
    "The defaults bake with no answer; without the lock tool the service is written, with how to lock", layer="offline"
)
def test_the_defaults_bake_without_any_answer(tmp_path: Path) -> None:
    result = generate(tmp_path, "_lock_dependencies=no")

    assert result.returncode == 0, result.stdout
    assert (tmp_path / "order_manager" / "src" / "order_manager" / "api.py").is_file()
    assert "make install" in result.stdout


@pytest.mark.promise(
    "The defaults bake with no answer; without the lock tool the service is written, with how to lock", layer="offline"
)
def test_a_missing_lock_tool_still_generates_and_says_how_to_lock(tmp_path: Path) -> None:
    # PATH without poetry: the post-gen hook cannot lock, yet the service is written.
    result = generate(tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})

    assert result.returncode == 0, result.stdout
    assert (tmp_path / "order_manager" / "pyproject.toml").is_file()
    assert not (tmp_path / "order_manager" / "poetry.lock").exists()
    # (This PATH lacks the service's Python too, which Poetry also needs to lock.)
    assert re.search(r"Not locked yet: poetry( and python3\.\d+)? not found on PATH", result.stdout), result.stdout
    assert "make lock" in result.stdout


@pytest.mark.promise(
    "A bad answer is refused before anything is written, in one `ERROR:` line saying what is valid", layer="offline"
)
@pytest.mark.parametrize(
    ("value", "shown"), [(1, "'1'"), (None, "None")], ids=["include_kubernetes=1", "include_kubernetes=None"]
)
def test_a_yes_no_answer_of_another_type_from_python_is_refused_by_the_hook(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], value: object, shown: str
) -> None:
    # Cookiecutter converts or refuses a text answer itself, but passes other types from its Python API through.
    with cookiecutter_scratch(), pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"include_kubernetes": value, "_lock_dependencies": False},
        )

    assert f"ERROR: include_kubernetes {shown} is not a yes/no answer; use yes or no" in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []
