"""A team tests the template from a project of its own, as the documents show: its own pytest configuration,
pytest-cookies, the test file of docs/testing.md, the commands the README and that page give, and nothing of this
repository on ``sys.path``."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from kit.processes import clean_environment
from kit.template import TEMPLATE_DIR, TOOLS_BIN

SECTION = "Test the template, or your fork of it, with pytest-cookies"
PAGE = "docs/testing.md"
DOCUMENTED_TEMPLATE_PATH = "../flask-microservice-template"
# The team's own configuration: strict, as a careful team sets it, and nothing that points into the template.
TEAM_PYPROJECT = """\
[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = ["--strict-markers", "--strict-config", "-ra"]
xfail_strict = true
"""


def section_blocks(document: str) -> dict[str, list[str]]:
    """The fenced blocks of the document's pytest-cookies section, by language: in the README, the commands; on
    the page, where the section is the whole page, the test file and the same commands."""
    tokens = MarkdownIt("commonmark").parse((TEMPLATE_DIR / document).read_text())
    start = next(i for i, t in enumerate(tokens) if t.type == "inline" and t.content == SECTION)
    end = next(
        (i for i, t in enumerate(tokens) if i > start + 1 and t.type == "heading_open" and t.tag in ("h1", "h2")),
        len(tokens),
    )
    blocks: dict[str, list[str]] = {}
    for token in tokens[start:end]:
        if token.type == "fence":
            blocks.setdefault(token.info, []).append(token.content)
    return blocks


def team_project(root: Path) -> Path:
    """A project outside this repository holding the page's test file and the team's own pytest settings."""
    project = root / "team"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(TEAM_PYPROJECT)
    (project / "tests" / "test_template.py").write_text(section_blocks(PAGE)["python"][0])
    return project


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH and the suite's virtual environment are left out: the team's pytest finds only its own project.
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=600
    )


@pytest.mark.promise(
    "The default Python is the newest offered one the machine has; a team bakes with its own pytest-cookies",
    layer="offline",
)
def test_the_documents_show_one_test_file_and_the_same_commands_to_run_it() -> None:
    page, readme = section_blocks(PAGE), section_blocks("README.md")

    assert len(page["python"]) == 1 and "cookies.bake(" in page["python"][0]
    assert "python" not in readme, "the test file is the page's; the README links to it"
    assert readme["sh"] == page["sh"] and len(readme["sh"]) == 1
    assert f"--template={DOCUMENTED_TEMPLATE_PATH}" in readme["sh"][0]


@pytest.mark.promise(
    "The default Python is the newest offered one the machine has; a team bakes with its own pytest-cookies",
    layer="offline",
)
def test_a_team_project_bakes_the_template_with_pytest_cookies(tmp_path: Path) -> None:
    project = team_project(tmp_path)
    basetemp = tmp_path / "basetemp"
    command = shlex.join(
        [
            str(TOOLS_BIN / "pytest"),
            "--template",
            str(TEMPLATE_DIR),
            "--basetemp",
            str(basetemp),
            "--keep-baked-projects",
        ]
    )

    result = run(command, project)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "5 passed" in result.stdout, result.stdout
    # The refused bake left its output directory empty (pytest-cookies bakes into <test tmp>/cookies/bakeNN).
    refused = next(basetemp.glob("test_a_bad_answer_is_refu*"))
    assert [path for path in (refused / "cookies").rglob("*") if not path.is_dir()] == []
    kept = next(basetemp.glob("test_the_defaults_bake*"))
    assert (kept / "cookies" / "bake00" / "order_manager" / "pyproject.toml").is_file()


@pytest.mark.network
def test_the_documented_commands_run_the_team_project_as_written(tmp_path: Path) -> None:
    project = team_project(tmp_path)
    install, test = section_blocks("README.md")["sh"][0].strip().splitlines()

    installed = run(install, project)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    result = run(test.replace(DOCUMENTED_TEMPLATE_PATH, shlex.quote(str(TEMPLATE_DIR))), project)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "5 passed" in result.stdout, result.stdout
