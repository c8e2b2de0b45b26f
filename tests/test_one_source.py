"""One source for each fact: tool pins, dependency ranges, lock files and derived names live in cookiecutter.json
(the updater's pins in template_updater/requirements.txt), and everything that repeats them (the root
pyproject.toml, rendered Dockerfiles, workflows, READMEs and dependency lists) agrees with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from kit.template import MANAGERS, PROJECT_TEMPLATE, TEMPLATE_CONTEXT, TEMPLATE_DIR

TOOL_PINS: dict[str, str] = TEMPLATE_CONTEXT["__tool_pins"]
# A requirement with an exact version, as `name==version`.
PINNED = re.compile(r"\b([a-z][a-z0-9-]*)==([0-9][0-9A-Za-z.]*)")
TEMPLATE_FILES = sorted(p for p in PROJECT_TEMPLATE.rglob("*") if p.is_file())
# A requirement with a version range, as `name>=1.2` or `name<2`.
RANGED = re.compile(r"\b[a-z][a-z0-9_.-]*(?:\[[a-z,]+\])?(?:>=|~=|<)[0-9]")
REQUIREMENTS: dict[str, Any] = TEMPLATE_CONTEXT["__requirements"]
# Derivations that belong in cookiecutter.json only (its private variables), never in a template file.
DERIVATIONS = [r"service_name\s*\|\s*upper", r"service_name\s*\|\s*replace", r"resource_name\s*\|\s*replace"]


def pins_in(text: str) -> dict[str, str]:
    return {name: version for name, version in PINNED.findall(text)}


@pytest.mark.promise("Each derived name and tool version has one source, `cookiecutter.json`", layer="offline")
def test_the_root_test_group_pins_each_tool_at_the_version_the_template_renders() -> None:
    pyproject = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())
    test_group = pins_in("\n".join(pyproject["dependency-groups"]["test"]))
    for requirement in TOOL_PINS.values():
        name, version = requirement.split("==")
        assert test_group.get(name) == version, f"pyproject.toml's test group pins {name}=={test_group.get(name)}"


def test_the_root_test_group_pins_what_the_updater_runs_with() -> None:
    pyproject = tomllib.loads((TEMPLATE_DIR / "pyproject.toml").read_text())
    test_group = pins_in("\n".join(pyproject["dependency-groups"]["test"]))
    updater = pins_in((TEMPLATE_DIR / "template_updater" / "requirements.txt").read_text())

    assert set(updater) == {"cruft", "cookiecutter", "tomlkit", "packaging"}
    assert {name: test_group.get(name) for name in updater} == updater
    assert pins_in("\n".join(pyproject["project"]["dependencies"])) == updater, "the installable updater's pins"


def test_rendered_files_pin_each_tool_as_cookiecutter_json_says(baked: Any) -> None:
    expected = dict(requirement.split("==") for requirement in TOOL_PINS.values())
    rendered: set[str] = set()
    for manager in MANAGERS:
        service = baked(dependency_manager=manager, include_ci_workflow=True)
        for name in ("Dockerfile", "Makefile", ".github/workflows/ci.yml", "README.md"):
            for tool, version in pins_in((service.path / name).read_text()).items():
                if tool in expected:
                    assert version == expected[tool], f"a {manager} service's {name} pins {tool}=={version}"
                    rendered.add(tool)
    assert rendered == set(expected), "a pin of cookiecutter.json that no service renders"


@pytest.mark.promise("Each derived name and tool version has one source, `cookiecutter.json`", layer="offline")
@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda path: str(path.relative_to(TEMPLATE_DIR)).split("/", 1)[1])
def test_templates_take_derived_names_from_cookiecutter_json(path: Path) -> None:
    text = path.read_text()
    for derivation in DERIVATIONS:
        assert not re.search(derivation, text), f"{path.name} derives a name itself ({derivation})"


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda path: str(path.relative_to(TEMPLATE_DIR)).split("/", 1)[1])
def test_templates_take_dependency_ranges_from_cookiecutter_json(path: Path) -> None:
    assert not RANGED.search(path.read_text()), f"{path.name} writes a version range itself"


@pytest.mark.parametrize("manager", MANAGERS)
def test_each_service_lists_the_ranges_cookiecutter_json_gives(baked: Any, manager: str) -> None:
    service = baked(dependency_manager=manager, use_opentelemetry=True, use_discount_calculator=True,
                    package_index_url="https://pypi.example.com/simple/")  # fmt: skip
    expected = [*REQUIREMENTS["runtime"], *REQUIREMENTS["opentelemetry"], *REQUIREMENTS["shared_package"]]
    pyproject = tomllib.loads((service.path / "pyproject.toml").read_text())
    if manager == "pip":
        lines = [line for line in (service.path / "requirements.in").read_text().splitlines() if line[:1].isalpha()]
        development = (service.path / "requirements-dev.in").read_text().splitlines()
        assert lines == expected
        assert [line for line in development if line in REQUIREMENTS["dev"] + REQUIREMENTS["pip_dev"]] == [
            *REQUIREMENTS["dev"],
            *REQUIREMENTS["pip_dev"],
        ]
    else:
        assert pyproject["project"]["dependencies"] == expected
        assert pyproject["dependency-groups"]["dev"] == REQUIREMENTS["dev"]
    assert pyproject["build-system"]["requires"] == [REQUIREMENTS["build_backend"][manager]]
