"""Rendering: a pairwise set of answers (every pair of values of any two answers at least once, generated from
cookiecutter.json) bakes into a clean, parseable, lint-clean service; the combinations the template cannot render
are refused by the pre-gen hook."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException

from kit.answers import (
    BakedService,
    answer_combinations,
    answer_values,
    bake_with_cookies,
    case_id,
    refusal,
    rendered_context,
)
from kit.processes import clean_environment, real_interpreter, run
from kit.template import (
    MANAGERS,
    OPTIONAL_FILES,
    PROJECT_TEMPLATE,
    PYTHONS,
    TEMPLATE_CONTEXT,
    TOOL_PINS,
    TOOLS_BIN,
    kept,
)

RENDERED, REFUSED = answer_combinations()
UNRENDERED = re.compile(r"\{\{|\{%|%\}|\{#|cookiecutter\.")
STRUCTURED = {".toml", ".yaml", ".yml", ".json"}


@pytest.fixture(params=RENDERED, ids=case_id)
def service(request: pytest.FixtureRequest, baked: Any) -> BakedService:
    return baked(**request.param)


def test_the_combinations_hold_every_pair_of_answer_values() -> None:
    # Every pair can render (a blank path and a blank index render when the package is off), so each pair must
    # appear in a combination that renders.
    values = answer_values()
    rows = [{**{key: options[0] for key, options in values.items()}, **answers} for answers in RENDERED]
    for (key_a, values_a), (key_b, values_b) in itertools.combinations(values.items(), 2):
        for a, b in itertools.product(values_a, values_b):
            held = any(row[key_a] == a and row[key_b] == b for row in rows)
            assert held, f"no combination renders {key_a}={a!r} with {key_b}={b!r}"
    assert REFUSED, "all-pairs met no combination the hook refuses"


@pytest.mark.parametrize("answers", REFUSED, ids=case_id)
def test_a_combination_the_template_cannot_render_is_refused(
    answers: dict[str, Any], cookies: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    expected = refusal(rendered_context(answers))
    assert expected is not None
    with pytest.raises(FailedHookException):
        bake_with_cookies(cookies, _lock_dependencies=False, **answers)

    assert capfd.readouterr().err.startswith(expected)
    # pytest-cookies bakes into <tmp_path>/cookies/bakeNN: the refused bake's directory is left empty.
    assert [path for path in (tmp_path / "cookies").rglob("*") if not path.is_dir()] == []
    assert all(not any(bake.iterdir()) for bake in (tmp_path / "cookies").iterdir())


@pytest.mark.promise("Every combination renders: nothing unrendered, every TOML/YAML/JSON file parses", layer="offline")
def test_no_unrendered_template_syntax_in_any_path_or_file(service: BakedService) -> None:
    for path in service.files():
        relative = path.relative_to(service.path)
        assert not UNRENDERED.search(str(relative)), f"unrendered path {relative}"
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            # GitHub Actions expressions (${{ ... }}) are the only legitimate braces.
            assert not UNRENDERED.search(line.replace("${{", "")), f"{relative}:{number}: {line}"


def rendered(name: str, answers: dict[str, Any]) -> str:
    """A path of the service template as cookiecutter names it in a service baked with ``answers``."""
    return StrictEnvironment().from_string(name).render(cookiecutter=answers)


def structured_files_the_answers_keep(answers: dict[str, Any]) -> set[str]:
    """The TOML, YAML and JSON files a service with ``answers`` has: those of the template the answers keep, and
    the .cruft.json the post-gen hook writes."""
    files = {".cruft.json"}
    for path in PROJECT_TEMPLATE.rglob("*"):
        name = str(path.relative_to(PROJECT_TEMPLATE))
        if path.is_file() and path.suffix in STRUCTURED and kept(name, answers):
            files.add(rendered(name, answers))
    return files


@pytest.mark.promise("Every combination renders: nothing unrendered, every TOML/YAML/JSON file parses", layer="offline")
def test_every_toml_yaml_and_json_file_parses(service: BakedService) -> None:
    parsed = set()
    for path in service.files():
        if path.suffix == ".toml":
            tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            list(yaml.safe_load_all(path.read_text()))
        elif path.suffix == ".json":
            json.loads(path.read_text())
        else:
            continue
        parsed.add(str(path.relative_to(service.path)))
    assert parsed == structured_files_the_answers_keep(service.answers)


def test_each_file_the_answers_choose_is_in_the_template() -> None:
    derived = {key for key in TEMPLATE_CONTEXT if key.startswith("__")}  # such as __has_upstreams, from an answer
    assert set(OPTIONAL_FILES) <= set(answer_values()) | derived, "cookiecutter.json's __files names an unknown answer"
    missing = [name for files in OPTIONAL_FILES.values() for name in files if not (PROJECT_TEMPLATE / name).exists()]
    assert missing == [], "cookiecutter.json's __files names paths the service template does not have"


@pytest.mark.promise("Only the chosen options' files remain, and the generated code is ruff clean", layer="offline")
def test_only_the_chosen_options_files_remain(service: BakedService) -> None:
    for answer, files in OPTIONAL_FILES.items():
        for name in files:
            there = (service.path / rendered(name, service.answers)).exists()
            assert there == kept(name, service.context), f"{name}, {answer}={service.context[answer]!r}"


@pytest.mark.promise("Only the chosen options' files remain, and the generated code is ruff clean", layer="offline")
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


@pytest.mark.promise("Only the chosen options' files remain, and the generated code is ruff clean", layer="offline")
def test_generated_code_passes_ruff(service: BakedService) -> None:
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        result = subprocess.run(
            [str(TOOLS_BIN / "ruff"), *command], cwd=service.path, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


# A resource's table is its plural: one rule of English endings, no irregular plurals. A service's table keeps its
# name through every template update, so these never change.
TABLE_NAMES = {
    "order": "orders",
    "line_item": "line_items",
    "category": "categories",
    "day": "days",
    "address": "addresses",
    "box": "boxes",
    "batch": "batches",
    "dish": "dishes",
    "person": "persons",
}


@pytest.mark.parametrize(("resource_name", "table_name"), TABLE_NAMES.items(), ids=list(TABLE_NAMES))
def test_a_resources_table_is_its_plural(resource_name: str, table_name: str) -> None:
    assert rendered_context({"resource_name": resource_name})["__table_name"] == table_name


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


@pytest.mark.promise("The data layer and its dependencies are there only with a database", layer="offline")
@pytest.mark.parametrize("database", ["none", "sqlite", "postgresql"])
def test_the_data_layer_is_there_only_with_a_database(baked: Any, database: str) -> None:
    service = baked(database=database)
    package = service.path / "src" / service.name
    modules = ("core/db.py", "core/db_settings.py", "core/idempotency.py", "models.py", "schemas.py", "core/migrate.py")
    layer = [package / name for name in (*modules, "migrations")]
    versions = ("0001_create_orders.py", "0002_create_idempotency_keys.py")
    layer += [package / "migrations" / "versions" / name for name in versions]
    tests = ("test_migrations.py", "test_database.py", "test_idempotency.py")
    layer += [service.path / "tests" / name for name in tests]
    dependencies = " ".join(tomllib.loads((service.path / "pyproject.toml").read_text())["project"]["dependencies"])

    assert all(path.exists() is (database != "none") for path in layer), [p.name for p in layer if p.exists()]
    assert ("sqlalchemy" in dependencies) is (database != "none")
    assert ("psycopg" in dependencies) is (database == "postgresql")


# The verbs that run Poetry or uv, which make .venv and so come from PATH (pip services install uv themselves). uv
# also makes the environment the updater runs in, for template-check too.
NEEDS_MANAGER = {
    "poetry": ["install", "lock", "sbom", "update"],
    "uv": ["install", "lock", "sbom", "update", "template-check"],
}


def path_with_make_and_python(directory: Path, python_version: str) -> str:
    """A PATH holding make, what `make help` runs, and an interpreter of ``python_version``; nothing else."""
    directory.mkdir()
    interpreter = real_interpreter(python_version)
    assert interpreter is not None, f"this test needs an interpreter of Python {python_version}"
    (directory / f"python{python_version}").symlink_to(interpreter)
    for program in ("make", "grep", "awk"):
        found = shutil.which(program)
        assert found is not None, f"this test needs {program} on PATH"
        (directory / program).symlink_to(found)
    return str(directory)


@pytest.mark.promise(
    "Without Poetry or uv on PATH, each verb that runs it stops in one line naming the pinned version", layer="offline"
)
@pytest.mark.parametrize("manager", list(NEEDS_MANAGER), ids=lambda manager: f"dependency_manager={manager}")
def test_a_verb_needing_a_missing_manager_stops_in_one_line_with_its_pin_and_does_nothing(
    baked: Any, tmp_path: Path, manager: str
) -> None:
    assert set(NEEDS_MANAGER) == set(MANAGERS) - {"pip"}
    version = next((version for version in PYTHONS if real_interpreter(version)), PYTHONS[0])
    service = baked(dependency_manager=manager, python_version=version)
    environment = clean_environment({"PATH": path_with_make_and_python(tmp_path / "bin", version)})
    before = sorted(service.path.rglob("*"))

    for verb in NEEDS_MANAGER[manager]:
        result = subprocess.run(
            ["make", verb], cwd=service.path, env=environment, capture_output=True, text=True, check=False
        )
        said = (result.stdout + result.stderr).splitlines()
        assert result.returncode != 0, f"make {verb} succeeded without {manager}"
        assert len(said) == 1, f"make {verb} said more than one line:\n" + "\n".join(said)
        assert f"{manager} not found on PATH" in said[0], said[0]
        assert f"`pipx install {TOOL_PINS[manager]}`" in said[0], said[0]
    assert sorted(service.path.rglob("*")) == before
    assert not (service.path / ".venv").exists()
    # The verbs that do not run it still work: help lists them, and the others' recipes expand without it.
    assert "make install" in run(["make", "help"], service.path, environment)
    run(["make", "--dry-run", "test", "lint", "run", "serve"], service.path, environment)
