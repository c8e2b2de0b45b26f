"""Rendering: every supported combination of answers bakes into a clean, parseable, lint-clean service."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from conftest import TOOLS_BIN, BakedService
from support import MANAGERS

PYTHONS = ("3.11", "3.12", "3.13")

# Every manager with every Python version, the options toggled so each appears on and off for each manager.
COMBINATIONS: list[dict[str, Any]] = (
    [
        {
            "dependency_manager": manager,
            "python_version": python,
            "use_discount_calculator": index % 2 == 0,
            # The internal package needs a source: here a private index (the monorepo path is covered below).
            "package_index_url": "https://pypi.example.com/simple/" if index % 2 == 0 else "",
            "use_opentelemetry": index % 2 == 1,
            "include_kubernetes": index % 3 != 1,
            "include_ci_workflow": index % 3 != 2,
            "license": ("MIT", "Apache-2.0", "Proprietary")[index % 3],
        }
        for manager in MANAGERS
        for index, python in enumerate(PYTHONS)
    ]
    + [
        {"service_name": "user_manager", "dependency_manager": manager, "discount_calculator_path": "../libs/dc"}
        for manager in MANAGERS
    ]
    + [
        {
            "service_name": "order_manager",
            "dependency_manager": manager,
            "use_discount_calculator": True,
            "discount_calculator_path": "../../libs/discount_calculator",
            "package_index_url": "http://127.0.0.1:8080/simple/",
        }
        for manager in MANAGERS
    ]
)

FILES_ONLY_FOR_MANAGER = {
    "poetry": {"poetry.toml"},
    "pip": {"requirements.in", "requirements-dev.in"},
    "uv": set(),
}
UNRENDERED = re.compile(r"\{\{|\{%|%\}|\{#|cookiecutter\.")


def combination_id(answers: dict[str, Any]) -> str:
    return "-".join(str(value) for value in answers.values()).replace("/", "_")


@pytest.fixture(params=COMBINATIONS, ids=combination_id)
def service(request: pytest.FixtureRequest, baked: Any) -> BakedService:
    return baked(**request.param)


def test_no_unrendered_template_syntax_in_any_path_or_file(service: BakedService) -> None:
    for path in service.files():
        relative = path.relative_to(service.path)
        assert not UNRENDERED.search(str(relative)), f"unrendered path {relative}"
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            # GitHub Actions expressions (${{ ... }}) are the only legitimate braces.
            assert not UNRENDERED.search(line.replace("${{", "")), f"{relative}:{number}: {line}"


def test_every_toml_yaml_and_json_file_parses(service: BakedService) -> None:
    parsed = 0
    for path in service.files():
        if path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(path.read_text()))
        elif path.suffix == ".json":
            json.loads(path.read_text())
        else:
            continue
        parsed += 1
    assert parsed >= 1


def test_only_the_chosen_options_files_remain(service: BakedService) -> None:
    names = {str(path.relative_to(service.path)) for path in service.files()}
    answers = service.answers
    for manager, files in FILES_ONLY_FOR_MANAGER.items():
        if manager == answers["dependency_manager"]:
            assert files <= names
        else:
            assert not files & names, f"{manager} files left in a {answers['dependency_manager']} service"
    assert any(n.startswith("deploy/k8s/") for n in names) == answers["include_kubernetes"]
    assert any(n.startswith(".github/workflows/") for n in names) == answers["include_ci_workflow"]


def test_no_trace_of_the_shared_package_unless_chosen(service: BakedService) -> None:
    # .cruft.json records every answer, the shared package's two included, for `make update`.
    files = [p for p in service.files() if p.name != ".cruft.json"]
    mentions = [p for p in files if re.search(r"discount", p.read_text(), re.IGNORECASE)]
    if service.answers["use_discount_calculator"]:
        assert mentions
    else:
        assert mentions == []


def test_pyproject_declares_what_the_answers_say(service: BakedService) -> None:
    pyproject = tomllib.loads((service.path / "pyproject.toml").read_text())
    answers = service.answers
    project = pyproject["project"]
    assert project["name"] == answers["service_name"].replace("_", "-")
    assert project["requires-python"] == f">={answers['python_version']}"
    index = answers["package_index_url"] or "https://pypi.org/simple/"
    if answers["dependency_manager"] == "poetry":
        assert pyproject["tool"]["poetry"]["source"][0]["url"] == index
    elif answers["dependency_manager"] == "uv":
        assert pyproject["tool"]["uv"]["index"][0]["url"] == index


def test_generated_code_passes_ruff(service: BakedService) -> None:
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        result = subprocess.run(
            [str(TOOLS_BIN / "ruff"), *command], cwd=service.path, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("description", "author_name"),
    [
        ("Says \"hello\" \\ and 'bye'", 'O\'Brien "Bob" \\ Smith'),
        ("Grüße, 日本語, emoji 🚀 and a ZWJ family 👨‍👩‍👧", "Zoë Ñúñez"),
        ("$HOME `id` $(make) # not a comment; <b>&amp;</b>", "Ana\u00a0María \u2028 Doe"),
    ],
    ids=["quotes-and-backslashes", "non-ascii", "shell-and-markup"],
)
def test_free_text_answers_arrive_intact(baked: Any, description: str, author_name: str) -> None:
    service = baked(description=description, author_name=author_name, include_kubernetes=True)
    project = tomllib.loads((service.path / "pyproject.toml").read_text())["project"]
    assert project["description"] == description
    assert project["authors"][0]["name"] == author_name
    assert description in (service.path / "README.md").read_text()
