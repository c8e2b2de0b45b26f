"""The updater as a package (template_updater): the merge driver on files, and releases in a git repository.

The end-to-end updates of generated services are in test_update.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kit.processes import git
from template_updater.fleet import Outcome, table
from template_updater.merge import merge_dependencies
from template_updater.update import described, release_tags, releases, releases_between

PYPROJECT = """[project]
name = "svc"
version = "0.1.0"
dependencies = [
    "flask>=3.1,<4",
    "gunicorn>=23,<24",
]

[dependency-groups]
dev = ["pytest>=8.3"]
"""


def merge(
    name: str, base: str, ours: str, theirs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """The driver as git calls it, on three files: its exit status, the merged file, what it printed."""
    paths = {side: tmp_path / side for side in ("base", "ours", "theirs")}
    for side, text in (("base", base), ("ours", ours), ("theirs", theirs)):
        paths[side].write_text(text)
    status = merge_dependencies(paths["base"], paths["ours"], paths["theirs"], name)
    return status, paths["ours"].read_text(), capsys.readouterr().err


@pytest.mark.promise(
    "The dependency merge driver merges both sides' entries and reports a real disagreement", layer="offline"
)
def test_the_driver_merges_two_additions_after_the_same_line_and_the_templates_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = PYPROJECT.replace('"gunicorn>=23,<24",\n', '"gunicorn>=23,<24",  # our server\n    "six>=1.17",\n')
    ours = ours.replace('version = "0.1.0"', 'version = "0.2.0"')
    theirs = PYPROJECT.replace('"gunicorn>=23,<24",\n', '"gunicorn>=23,<24",\n    "cachetools>=5",\n')
    theirs = theirs.replace("flask>=3.1,<4", "flask>=3.2,<4").replace('["pytest>=8.3"]', '["pytest>=9"]')

    status, merged, _ = merge("pyproject.toml", PYPROJECT, ours, theirs, tmp_path, capsys)

    assert status == 0
    project = tomllib.loads(merged)["project"]
    assert project["dependencies"] == ["flask>=3.2,<4", "gunicorn>=23,<24", "cachetools>=5", "six>=1.17"]
    assert project["version"] == "0.2.0"
    assert "# our server" in merged
    assert tomllib.loads(merged)["dependency-groups"]["dev"] == ["pytest>=9"]


@pytest.mark.promise(
    "The dependency merge driver merges both sides' entries and reports a real disagreement", layer="offline"
)
def test_the_driver_applies_the_templates_removal_and_keeps_the_teams_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = "flask>=3.1,<4\ngunicorn>=23,<24\nitsdangerous>=2\n"
    ours = base + "six>=1.16\n"
    theirs = "flask>=3.1,<4\ngunicorn>=23,<24\ncachetools>=5\n"

    status, merged, _ = merge("requirements.in", base, ours, theirs, tmp_path, capsys)

    assert status == 0
    assert merged.splitlines() == ["flask>=3.1,<4", "gunicorn>=23,<24", "six>=1.16", "cachetools>=5"]


@pytest.mark.promise(
    "The dependency merge driver merges both sides' entries and reports a real disagreement", layer="offline"
)
@pytest.mark.parametrize("name", ["pyproject.toml", "requirements.in"])
def test_the_driver_reports_a_real_disagreement_on_bounds_and_keeps_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    base = PYPROJECT if name == "pyproject.toml" else "flask>=3.1,<4\ngunicorn>=23,<24\n"
    ours = base.replace("gunicorn>=23,<24", "gunicorn>=22,<24")
    theirs = base.replace("gunicorn>=23,<24", "gunicorn>=23,<25")

    status, merged, errors = merge(name, base, ours, theirs, tmp_path, capsys)

    assert status != 0
    assert "gunicorn>=22,<24" in merged and "gunicorn>=23,<25" in merged
    assert "gunicorn" in errors


# ---------------------------------------------------------------------------------------------------------------
# Releases: tags vMAJOR.MINOR.PATCH, compared as numbers, and what a service at a commit is behind.


@pytest.fixture
def tagged(tmp_path: Path) -> dict[str, str]:
    """A repository with a commit per tag (and tags that are not releases), each with its CHANGELOG heading."""
    git("init", "--quiet", "--initial-branch", "main", cwd=tmp_path)
    commits, headings = {}, ""
    for tag in ("v1.2.0", "v1.9.0", "v1.10.0", "v2.0.0-rc1", "latest", "v2.0.0"):
        headings = f"## {tag} (2026-12-01)\n\n" + headings
        (tmp_path / "CHANGELOG.md").write_text(f"# Changelog\n\n## Unreleased\n\n{headings}")
        git("add", "-A", cwd=tmp_path)
        git("commit", "--quiet", "--message", tag, cwd=tmp_path)
        git("tag", "--annotate", tag, "--message", tag, cwd=tmp_path)
        commits[tag] = git("rev-parse", "HEAD", cwd=tmp_path)
    return commits


@pytest.mark.promise(
    "Releases are the version tags in numeric order, named by their changelog headings", layer="offline"
)
def test_releases_are_the_version_tags_in_numeric_order(tmp_path: Path, tagged: dict[str, str]) -> None:
    assert releases(tmp_path) == ["v1.2.0", "v1.9.0", "v1.10.0", "v2.0.0"]


@pytest.mark.promise(
    "Releases are the version tags in numeric order, named by their changelog headings", layer="offline"
)
def test_the_releases_between_two_commits_are_named_by_their_changelog_headings(
    tmp_path: Path, tagged: dict[str, str]
) -> None:
    behind = releases_between(tmp_path, tagged["v1.9.0"], tagged["v2.0.0"])

    assert behind == ["v1.10.0 (2026-12-01)", "v2.0.0 (2026-12-01)"]
    assert releases_between(tmp_path, tagged["v2.0.0"], tagged["v2.0.0"]) == []


@pytest.mark.promise("Update messages and the fleet table name the releases a service moves between", layer="offline")
def test_each_released_commit_is_named_by_its_newest_release(tmp_path: Path, tagged: dict[str, str]) -> None:
    git("tag", "v2.0.1", tagged["v2.0.0"], cwd=tmp_path)  # a lightweight tag, on a commit released already

    tags = release_tags(tmp_path)

    expected = {tagged[tag]: tag for tag in ("v1.2.0", "v1.9.0", "v1.10.0")} | {tagged["v2.0.0"]: "v2.0.1"}
    assert tags == expected
    assert described(tagged["v1.9.0"], tags) == f"v1.9.0 ({tagged['v1.9.0'][:12]})"
    assert described(tagged["v2.0.0-rc1"], tags) == tagged["v2.0.0-rc1"][:12]


@pytest.mark.promise("Update messages and the fleet table name the releases a service moves between", layer="offline")
def test_a_template_path_relative_to_a_service_in_a_monorepo_is_read_from_the_service(
    tmp_path: Path, tagged: dict[str, str]
) -> None:
    # git runs from the top of the work tree: from services/a, ../../template would be read from the monorepo's root.
    template = tmp_path.rename(tmp_path.with_name(tmp_path.name + "-template"))
    service = tmp_path / "monorepo" / "services" / "a"
    service.mkdir(parents=True)
    git("init", "--quiet", cwd=tmp_path / "monorepo")

    tags = release_tags(f"../../../../{template.name}", cwd=service)

    assert tags[tagged["v1.9.0"]] == "v1.9.0"


@pytest.mark.promise("Update messages and the fleet table name the releases a service moves between", layer="offline")
def test_the_fleet_table_names_the_releases_a_service_moved_between_else_the_hashes(
    tmp_path: Path, tagged: dict[str, str]
) -> None:
    outcomes = [
        Outcome("services/a", tagged["v1.9.0"], tagged["v2.0.0"], "updated, committed", needs_person=False),
        Outcome("services/b", tagged["v2.0.0-rc1"], tagged["v2.0.0-rc1"], "up to date", needs_person=False),
    ]

    rows = [row.split() for row in table(outcomes, release_tags(tmp_path)).splitlines()]

    assert rows[1] == ["services/a", "v1.9.0", "v2.0.0", "updated,", "committed"]
    assert rows[2] == ["services/b", tagged["v2.0.0-rc1"][:12], tagged["v2.0.0-rc1"][:12], "up", "to", "date"]
