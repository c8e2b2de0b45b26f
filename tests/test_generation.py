"""Rendering: a pairwise set of answers (every pair of values of any two answers at least once, generated from
cookiecutter.json) bakes into a clean, parseable, lint-clean service; the combinations the template cannot render
are refused by the pre-gen hook."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException

from kit.answers import (
    BakedService,
    answer_combinations,
    answer_values,
    answers_with_defaults,
    bake_with_cookies,
    case_id,
    refusal,
)
from kit.template import PROJECT_TEMPLATE, TOOLS_BIN

RENDERED, REFUSED = answer_combinations()
FILES_ONLY_FOR_MANAGER = {
    "poetry": {"poetry.toml"},
    "pip": {"requirements.in", "requirements-dev.in"},
    "uv": set(),
}
FILES_ONLY_FOR_OPTION = {"include_kubernetes": "deploy/", "include_ci_workflow": ".github/"}
# The Kubernetes files that depend on the database: a migration Job for PostgreSQL, a volume (and no autoscaler)
# for SQLite.
FILES_ONLY_FOR_DATABASE = {
    "deploy/k8s/migrate-job.yaml": {"postgresql"},
    "deploy/k8s/volume.yaml": {"sqlite"},
    "deploy/k8s/hpa.yaml": {"none", "postgresql"},
}
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
    expected = refusal(answers_with_defaults(answers))
    assert expected is not None
    with pytest.raises(FailedHookException):
        bake_with_cookies(cookies, _lock_dependencies=False, **answers)

    assert capfd.readouterr().err.startswith(expected)
    # pytest-cookies bakes into <tmp_path>/cookies/bakeNN: the refused bake's directory is left empty.
    assert [path for path in (tmp_path / "cookies").rglob("*") if not path.is_dir()] == []
    assert all(not any(bake.iterdir()) for bake in (tmp_path / "cookies").iterdir())


def test_no_unrendered_template_syntax_in_any_path_or_file(service: BakedService) -> None:
    for path in service.files():
        relative = path.relative_to(service.path)
        assert not UNRENDERED.search(str(relative)), f"unrendered path {relative}"
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            # GitHub Actions expressions (${{ ... }}) are the only legitimate braces.
            assert not UNRENDERED.search(line.replace("${{", "")), f"{relative}:{number}: {line}"


def structured_files_the_answers_keep(answers: dict[str, Any]) -> set[str]:
    """The TOML, YAML and JSON files a service with ``answers`` has: those of the template the answers keep, and
    the .cruft.json the post-gen hook writes."""
    kept = {".cruft.json"}
    for path in PROJECT_TEMPLATE.rglob("*"):
        name = str(path.relative_to(PROJECT_TEMPLATE))
        if path.suffix not in STRUCTURED or not path.is_file():
            continue
        if any(
            name in files
            for manager, files in FILES_ONLY_FOR_MANAGER.items()
            if manager != answers["dependency_manager"]
        ):
            continue
        if any(name.startswith(prefix) and not answers[option] for option, prefix in FILES_ONLY_FOR_OPTION.items()):
            continue
        if answers["database"] not in FILES_ONLY_FOR_DATABASE.get(name, {answers["database"]}):
            continue
        kept.add(name)
    return kept


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


def test_only_the_chosen_options_files_remain(service: BakedService) -> None:
    names = {str(path.relative_to(service.path)) for path in service.files()}
    answers = service.answers
    for manager, files in FILES_ONLY_FOR_MANAGER.items():
        if manager == answers["dependency_manager"]:
            assert files <= names
        else:
            assert not files & names, f"{manager} files left in a {answers['dependency_manager']} service"
    for option, prefix in FILES_ONLY_FOR_OPTION.items():
        assert any(n.startswith(prefix) for n in names) == answers[option], f"{option}={answers[option]}"


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


@pytest.mark.parametrize("database", ["none", "sqlite", "postgresql"])
def test_the_data_layer_is_there_only_with_a_database(baked: Any, database: str) -> None:
    service = baked(database=database)
    package = service.path / "src" / service.name
    layer = [package / name for name in ("db.py", "models.py", "schemas.py", "migrate.py", "migrations")]
    layer += [package / "migrations" / "versions" / "0001_create_orders.py"]
    layer += [service.path / "tests" / name for name in ("test_migrations.py", "test_database.py")]
    dependencies = " ".join(tomllib.loads((service.path / "pyproject.toml").read_text())["project"]["dependencies"])

    assert all(path.exists() is (database != "none") for path in layer), [p.name for p in layer if p.exists()]
    assert ("sqlalchemy" in dependencies) is (database != "none")
    assert ("psycopg" in dependencies) is (database == "postgresql")
