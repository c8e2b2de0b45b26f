"""Services follow the template: every service records where it came from, and `make update` brings it forward.

The offline tests check the record (.cruft.json) and the hooks' update switch. The `install` tests move a clone
of this template forward by one commit and update services generated before it, with their teams' changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kit.answers import BakedService, run_cookiecutter
from kit.processes import GIT_IDENTITY, CommandFailed, clean_environment, git, python_executable
from kit.template import (
    LOCK_FILES,
    MANAGERS,
    PROJECT_TEMPLATE,
    SHARED_PACKAGE_DIR,
    TEMPLATE_DIR,
    TOOLS_BIN,
    copy_working_tree,
)

pytestmark = pytest.mark.update


def cruft_record(service: Path) -> dict[str, Any]:
    return json.loads((service / ".cruft.json").read_text())


@pytest.mark.promise("Every service records the template and commit it came from (`.cruft.json`)", layer="offline")
def test_plain_cookiecutter_records_the_template_commit_and_the_public_answers(baked: Any) -> None:
    service: BakedService = baked(dependency_manager="uv", port="8123")

    record = cruft_record(service.path)

    assert record["template"] == str(TEMPLATE_DIR)
    assert record["commit"] == git("rev-parse", "HEAD", cwd=TEMPLATE_DIR)
    answers = record["context"]["cookiecutter"]
    assert answers["dependency_manager"] == "uv"
    assert answers["port"] == "8123"
    assert answers["_commit"] == record["commit"]
    private = {key for key in answers if key.startswith("_")}
    assert private == {"_template", "_commit"}, "private answers must not reach the update renders"


def test_a_relative_template_path_is_recorded_relative_to_the_service(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    typed = os.path.relpath(TEMPLATE_DIR, workdir)

    run_cookiecutter(typed, "--output-dir", "services", "_lock_dependencies=no", cwd=workdir, check=True)

    service = workdir / "services" / "order_manager"
    template = cruft_record(service)["template"]
    assert not Path(template).is_absolute()
    assert (service / template).resolve() == TEMPLATE_DIR


def test_update_renders_neither_lock_nor_write_a_record(tmp_path: Path) -> None:
    # The renders cruft makes for `make update` run with TEMPLATE_UPDATE=1 exported by the Makefile. Locking is
    # on here (the template's default, which is what those renders get), so only the switch can stop it.
    run_cookiecutter(str(TEMPLATE_DIR), "dependency_manager=uv", cwd=tmp_path, env={"TEMPLATE_UPDATE": "1"}, check=True)

    service = tmp_path / "order_manager"
    assert (service / "pyproject.toml").is_file()
    assert not (service / ".cruft.json").exists()
    assert not any((service / name).exists() for name in LOCK_FILES["uv"])


@pytest.mark.promise("Every service records the template and commit it came from (`.cruft.json`)", layer="offline")
def test_cruft_create_generates_and_its_own_record_stands(tmp_path: Path) -> None:
    context = json.dumps({"dependency_manager": "pip", "_lock_dependencies": False})
    subprocess.run(
        [str(TOOLS_BIN / "cruft"), "create", "--no-input", "--extra-context", context, str(TEMPLATE_DIR)],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        check=True,
    )

    record = cruft_record(tmp_path / "order_manager")
    assert record["commit"] == git("rev-parse", "HEAD", cwd=TEMPLATE_DIR)
    # cruft's own record keeps the full context it rendered with, private answers included; the hook's would not.
    assert "_lock_dependencies" in record["context"]["cookiecutter"]


# ---------------------------------------------------------------------------------------------------------------
# The template moves on; services generated before it update with `make update`.

TEAM_DEPENDENCY = "six"  # what each team adds with its own tool
TEMPLATE_DEPENDENCY = "cachetools"  # what the template adds, as a runtime dependency
SERVICE_TEMPLATE = PROJECT_TEMPLATE.name
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)
UPDATER_FIX = "(the updater of the new template version) "
CHANGELOG_ENTRY = "- Services depend on cachetools. **After updating:** `make install`."
PARALLEL = 3  # services generated or updated at a time


def run_in(cwd: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=clean_environment(GIT_IDENTITY), capture_output=True, text=True, timeout=900, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` failed in {cwd} ({result.returncode}):\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-3000:]}")  # fmt: skip
    return result


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "--quiet", "-m", message, cwd=repo)


def cruft_create(output: Path, template: Path, checkout: str, **answers: Any) -> Path:
    """A uv service for Python 3.12 (unless ``answers`` say otherwise) generated into ``output`` by `cruft create`
    from ``template`` at ``checkout``; returns its directory."""
    context = {"dependency_manager": "uv", "python_version": "3.12", **answers}
    run_in(output, str(TOOLS_BIN / "cruft"), "create", "--no-input", "--checkout", checkout,
           "--extra-context", json.dumps(context), str(template))  # fmt: skip
    return output / str(context.get("service_name", "order_manager"))


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer has {old!r}; adapt the template's move in test_update.py"
    path.write_text(text.replace(old, new, 1))


def add_runtime_requirement(context_file: Path, requirement: str) -> None:
    """Append ``requirement`` to the runtime list of cookiecutter.json, whatever else the list holds."""
    context = json.loads(context_file.read_text())
    context["__requirements"]["runtime"].append(requirement)
    context_file.write_text(json.dumps(context, indent=2, ensure_ascii=False) + "\n")


@dataclass
class MovingTemplate:
    """A git clone of this template (its working tree as it is) that moves on by one commit, once."""

    path: Path
    before: str
    after: str = ""

    def move_on(self) -> str:
        """One commit that adds a file, changes a line, removes a file, adds a runtime dependency and changes a
        Dockerfile line, with its CHANGELOG entry."""
        if not self.after:
            service = self.path / SERVICE_TEMPLATE
            (service / "SECURITY.md").write_text("# Security\n\nReport a vulnerability to the owning team.\n")
            replace_once(service / ".gitignore", ".venv/\n", "/.venv/\n")
            (service / "LICENSE").unlink()
            # After the template's runtime list, where each team's tool puts its own addition: in a service without
            # the shared package or traces, the two collide as text.
            add_runtime_requirement(self.path / "cookiecutter.json", f"{TEMPLATE_DEPENDENCY}>=5")
            replace_once(service / "Dockerfile", "WORKDIR /build\n", "WORKDIR /opt/build\n")
            replace_once(self.path / "CHANGELOG.md", "## Unreleased\n\n", f"## Unreleased\n\n{CHANGELOG_ENTRY}\n")
            # A change to the updater made only in the new version: the update must run this one.
            replace_once(self.path / "template_updater" / "update.py", '"\\nNext: ', f'"\\n{UPDATER_FIX}Next: ')
            commit_all(self.path, "Move on")
            self.after = git("rev-parse", "HEAD", cwd=self.path)
        return self.after


@dataclass
class TeamService:
    """A service generated from the template before it moved on, in its own git repository."""

    path: Path
    repo: Path
    manager: str
    shared: bool

    def make(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_in(self.path, "make", *arguments, check=check)

    def install(self) -> None:
        self.make("install", f"PYTHON={python_executable('3.12')}")

    def snapshot(self) -> dict[str, str]:
        """Every file of the repository but .git and .venv, with its content, and git's view of the tree."""
        files = {
            str(path.relative_to(self.repo)): path.read_text(errors="replace")
            for path in self.repo.rglob("*")
            if path.is_file() and not {".git", ".venv", "__pycache__", ".pytest_cache"} & set(path.parts)
        }
        files["git status"] = git("status", "--porcelain", cwd=self.repo)
        return files


GENERATIONS = {
    # name: (dependency manager, shared package by path, generated with)
    **{
        f"{m}-{'with' if s else 'without'}-shared-package": (m, s, "cookiecutter")
        for m in MANAGERS
        for s in (False, True)
    },
    "uv-cruft-create": ("uv", False, "cruft"),
    "uv-collision": ("uv", False, "cookiecutter"),
    "uv-dirty-tree": ("uv", False, "cookiecutter"),
}


def generate(template: Path, root: Path, manager: str, shared: bool, creator: str) -> TeamService:
    """Generate and lock a service from ``template`` into ``root`` (a monorepo with the shared package when
    ``shared``), and commit it as generated: the team's first commit."""
    answers: dict[str, Any] = {"dependency_manager": manager, "python_version": "3.12"}
    output = root
    if shared:
        shutil.copytree(SHARED_PACKAGE_DIR, root / "libs" / "discount_calculator",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "dist", "build"))  # fmt: skip
        output = root / "services"
        answers.update(use_discount_calculator=True, discount_calculator_path="../../libs/discount_calculator")
    output.mkdir(parents=True, exist_ok=True)
    if creator == "cruft":
        run_in(
            output,
            str(TOOLS_BIN / "cruft"),
            "create",
            "--no-input",
            "--extra-context",
            json.dumps(answers),
            str(template),
        )
    else:
        run_cookiecutter(str(template), *(f"{k}={v}" for k, v in answers.items()), cwd=output, check=True)
    service = output / "order_manager"
    repo = root if shared else service
    git("init", "--quiet", "--initial-branch", "main", cwd=repo)
    commit_all(repo, "Generated from the template")
    return TeamService(path=service, repo=repo, manager=manager, shared=shared)


def template_repository(root: Path) -> str:
    """A git repository at ``root`` holding this template's working tree as it is, in one commit; returns it."""
    copy_working_tree(TEMPLATE_DIR, root)
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    commit_all(root, "Before")
    return git("rev-parse", "HEAD", cwd=root)


@pytest.fixture(scope="session")
def moving_template(tmp_path_factory: pytest.TempPathFactory) -> MovingTemplate:
    root = tmp_path_factory.mktemp("template")
    return MovingTemplate(path=root, before=template_repository(root))


@pytest.fixture(scope="session")
def team_services(tmp_path_factory: pytest.TempPathFactory, moving_template: MovingTemplate) -> dict[str, TeamService]:
    """Every service, generated before the template moves on; then the template moves on."""
    # Generating is mostly waiting for the package index: three at a time.
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {
            name: pool.submit(generate, moving_template.path, tmp_path_factory.mktemp(name), *generation)
            for name, generation in GENERATIONS.items()
        }
    services = {name: future.result() for name, future in futures.items()}
    moving_template.move_on()
    return services


def add_team_work(service: TeamService) -> None:
    """The team changes code, adds a test, and adds a dependency with its own tool; then commits."""
    api = service.path / "src" / "order_manager" / "api.py"
    api.write_text(api.read_text() + '\n\nTEAM_NOTE = "kept through template updates"\n')
    (service.path / "tests" / "test_team.py").write_text(
        f'"""The team\'s own test, using the dependency it added."""\n\nimport {TEAM_DEPENDENCY}\n\n\n'
        f"def test_the_teams_dependency_is_installed() -> None:\n    assert {TEAM_DEPENDENCY}.PY3\n"
    )
    if service.manager == "poetry":
        run_in(service.path, "poetry", "add", "--quiet", TEAM_DEPENDENCY)
    elif service.manager == "uv":
        run_in(service.path, "uv", "add", "--quiet", TEAM_DEPENDENCY)
    else:
        requirements = service.path / "requirements.in"
        requirements.write_text(requirements.read_text() + f"{TEAM_DEPENDENCY}>=1.16\n")
        service.make("lock")
    commit_all(service.repo, "Team work")


@dataclass
class Updated:
    service: TeamService
    output: str
    template: MovingTemplate


UPDATED = [name for name in GENERATIONS if name not in ("uv-collision", "uv-dirty-tree")]


def update_after_team_work(service: TeamService, template: MovingTemplate) -> Updated:
    service.install()
    add_team_work(service)
    result = service.make("update")
    return Updated(service=service, output=result.stdout, template=template)


@pytest.fixture(scope="session")
def updates(team_services: dict[str, TeamService], moving_template: MovingTemplate) -> dict[str, Any]:
    """Each service of UPDATED after its team's work and `make update` (three at a time), or why that failed."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {name: pool.submit(update_after_team_work, team_services[name], moving_template) for name in UPDATED}
    outcomes: dict[str, Any] = {}
    for name, future in futures.items():
        try:
            outcomes[name] = future.result()
        except BaseException as error:  # pytest.fail raises a BaseException; that service's tests show it
            outcomes[name] = error
    return outcomes


def updated_service(updates: dict[str, Any], name: str) -> Updated:
    outcome = updates[name]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.fixture(scope="module", params=UPDATED)
def updated(request: pytest.FixtureRequest, updates: dict[str, Any]) -> Updated:
    return updated_service(updates, request.param)


@pytest.mark.promise(
    "`make update` brings every template change, keeps the team's code and dependency, records the commit",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_update_records_the_new_template_commit(updated: Updated) -> None:
    assert cruft_record(updated.service.path)["commit"] == updated.template.after


@pytest.mark.promise(
    "`make update` brings every template change, keeps the team's code and dependency, records the commit",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_update_brings_every_template_change(updated: Updated) -> None:
    path = updated.service.path
    assert (path / "SECURITY.md").is_file()
    assert not (path / "LICENSE").exists()
    assert "/.venv/" in (path / ".gitignore").read_text().splitlines()
    assert "WORKDIR /opt/build" in (path / "Dockerfile").read_text()
    dependencies = "requirements.in" if updated.service.manager == "pip" else "pyproject.toml"
    assert f"{TEMPLATE_DEPENDENCY}>=5" in (path / dependencies).read_text()


@pytest.mark.promise(
    "`make update` brings every template change, keeps the team's code and dependency, records the commit",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_update_keeps_the_teams_code_and_dependency(updated: Updated) -> None:
    path = updated.service.path
    assert 'TEAM_NOTE = "kept through template updates"' in (path / "src" / "order_manager" / "api.py").read_text()
    assert (path / "tests" / "test_team.py").is_file()
    dependencies = "requirements.in" if updated.service.manager == "pip" else "pyproject.toml"
    assert TEAM_DEPENDENCY in (path / dependencies).read_text()
    for path in updated.service.repo.rglob("*"):
        if path.is_file() and ".venv" not in path.parts and ".git" not in path.parts:
            assert not CONFLICT_MARKER.search(path.read_text(errors="replace")), f"conflict markers in {path}"


@pytest.mark.promise(
    "`make update` brings every template change, keeps the team's code and dependency, records the commit",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_update_prints_the_files_it_changed_and_the_changelog_entries(updated: Updated) -> None:
    for name in ("SECURITY.md", "LICENSE", "Dockerfile", *LOCK_FILES[updated.service.manager]):
        assert f"  {name}\n" in updated.output
    assert CHANGELOG_ENTRY in updated.output


@pytest.mark.promise(
    "The updater that runs is the one of the version a service updates to; services keep no copy", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_the_updater_that_runs_is_the_one_of_the_version_updated_to(updated: Updated) -> None:
    assert UPDATER_FIX in updated.output
    assert not (updated.service.path / "scripts").exists(), "services keep no copy of the updater"


@pytest.mark.promise(
    "After an update the lock holds both sides' dependencies and installs, and the image still builds", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_the_new_lock_holds_the_teams_and_the_templates_dependencies_and_installs(updated: Updated) -> None:
    service = updated.service
    locks = "".join((service.path / name).read_text() for name in LOCK_FILES[service.manager])
    for name in (TEAM_DEPENDENCY, TEMPLATE_DEPENDENCY):
        assert f'name = "{name}"' in locks or f"\n{name}==" in locks, f"{name} is not in the lock"
    service.install()
    service.make("test")
    probe = f"import {TEAM_DEPENDENCY}, {TEMPLATE_DEPENDENCY}"
    run_in(service.path, ".venv/bin/python", "-c", probe)


@pytest.mark.promise(
    "After an update the lock holds both sides' dependencies and installs, and the image still builds", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_a_second_update_right_after_changes_nothing(updated: Updated) -> None:
    before = updated.service.snapshot()

    result = updated.service.make("update")

    assert "Already up to date" in result.stdout
    assert updated.service.snapshot() == before


@pytest.mark.promise(
    "A colliding edit fails the update naming the file, both versions kept; a dirty tree is refused", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_a_colliding_edit_fails_the_update_names_the_file_and_keeps_both_lines(
    team_services: dict[str, TeamService],
) -> None:
    service = team_services["uv-collision"]
    service.install()
    replace_once(service.path / "Dockerfile", "WORKDIR /build\n", "WORKDIR /srv/build\n")
    commit_all(service.repo, "Team changes the line the template changes too")

    result = service.make("update", check=False)

    assert result.returncode != 0
    assert "  Dockerfile  (conflict markers)" in result.stderr
    assert "To finish:" in result.stderr
    dockerfile = (service.path / "Dockerfile").read_text()
    assert "WORKDIR /srv/build" in dockerfile and "WORKDIR /opt/build" in dockerfile
    assert CONFLICT_MARKER.search(dockerfile)


@pytest.mark.promise(
    "A colliding edit fails the update naming the file, both versions kept; a dirty tree is refused", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_a_dirty_tree_is_refused_in_one_line_and_nothing_changes(team_services: dict[str, TeamService]) -> None:
    service = team_services["uv-dirty-tree"]
    service.install()
    readme = service.path / "README.md"
    readme.write_text(readme.read_text() + "\nWork in progress.\n")
    before = service.snapshot()

    result = service.make("update", check=False)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "uncommitted changes" in errors[0] and "commit or stash" in errors[0]
    assert service.snapshot() == before


@pytest.mark.promise(
    "`make template-check` fails while the service is behind the template, and passes once updated", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_template_check_fails_naming_both_commits_while_behind(
    team_services: dict[str, TeamService], moving_template: MovingTemplate
) -> None:
    service = team_services["uv-dirty-tree"]
    service.install()

    result = service.make("template-check", check=False)

    assert result.returncode != 0
    assert moving_template.before[:12] in result.stderr and moving_template.after[:12] in result.stderr


@pytest.mark.promise(
    "`make template-check` fails while the service is behind the template, and passes once updated", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_template_check_passes_once_updated(updates: dict[str, Any]) -> None:
    updated = updated_service(updates, "uv-without-shared-package")
    commit_all(updated.service.repo, "Update from the template")
    result = updated.service.make("template-check")
    assert "Up to date" in result.stdout


@pytest.mark.promise(
    "After an update the lock holds both sides' dependencies and installs, and the image still builds", layer="update"
)
@pytest.mark.docker
@pytest.mark.network
@pytest.mark.usefixtures("docker_engine")
def test_the_image_still_builds_after_an_update(updates: dict[str, Any]) -> None:
    updated = updated_service(updates, "uv-without-shared-package")  # one tool is enough
    tag = f"template-update-test-{os.getpid()}:latest"
    try:
        updated.service.make("docker-build", f"IMAGE={tag}", "DOCKER_BUILD_FLAGS=--network host")
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True, check=False)


# ---------------------------------------------------------------------------------------------------------------
# The long-range regression test: a service generated at the commit where `make update` landed updates to HEAD.

UPDATE_LANDED = "727ce686b10c882fd97e11a21c4bbb530076bae0"


def clone_holding(root: Path, commit: str) -> Path:
    """A clone of this template in ``root``, whose history must hold ``commit``."""
    clone = root / "template"
    git("clone", "--quiet", str(TEMPLATE_DIR), str(clone), cwd=root)
    try:
        git("merge-base", "--is-ancestor", commit, "HEAD", cwd=clone)
    except CommandFailed:
        pytest.fail(f"{commit} is not in this clone's history: CI needs a full clone of main")
    return clone


def service_generated_at(root: Path, template: Path, commit: str, **answers: Any) -> TeamService:
    """A uv service generated by `cruft create` from ``template`` at ``commit``, committed as generated, installed."""
    generated = cruft_create(root, template, commit, **answers)
    service = TeamService(path=generated, repo=generated, manager="uv", shared=False)
    git("init", "--quiet", "--initial-branch", "main", cwd=service.repo)
    commit_all(service.repo, "Generated from the template")
    service.install()
    return service


@pytest.mark.promise(
    "`make update` brings every template change, keeps the team's code and dependency, records the commit",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_a_service_from_the_commit_where_update_landed_updates_to_head(tmp_path: Path) -> None:
    clone = clone_holding(tmp_path, UPDATE_LANDED)
    head = git("rev-parse", "HEAD", cwd=clone)
    service = service_generated_at(tmp_path, clone, UPDATE_LANDED)

    service.make("update")

    assert cruft_record(service.path)["commit"] == head
    for path in service.path.rglob("*"):
        if path.is_file() and ".venv" not in path.parts and ".git" not in path.parts:
            assert not CONFLICT_MARKER.search(path.read_text(errors="replace")), f"conflict markers in {path}"
    service.install()
    service.make("test")
    # The copy of the updater that service had ran once; from now on its Makefile fetches the template's.
    commit_all(service.repo, "Update from the template")
    again = service.make("update")
    assert "Already up to date" in again.stdout and "template_updater" in again.stdout
    assert not (service.path / "scripts" / "template_update.py").exists()


# The template's modules moved into core/ (a MAJOR release) after this commit. A service generated at it, whose team
# changed its own modules, wrote a migration and added a dependency, updates across the move to the working tree.
BEFORE_CORE = "5911690ca2dcc37ca114eddfc7106a60e9dcb356"
TEAM_TABLE = """

class Tag(Base):
    # A label the team added to the service.
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50), unique=True)
"""
TEAM_SCHEMA = """

class TagOut(BaseModel):
    # A label, as the API answers it.
    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
"""
# The team's model goes in before this one, beside the models it goes with.
OUT_MODEL = "\n\nclass OrderOut(BaseModel):"


def commit_working_tree(clone: Path) -> str:
    """Commit this template's working tree as it is on top of ``clone``, a clone of it; returns the commit."""
    git("rm", "-r", "--quiet", ".", cwd=clone)
    copy_working_tree(TEMPLATE_DIR, clone)
    git("add", "-A", cwd=clone)
    git("commit", "--quiet", "--allow-empty", "-m", "The working tree", cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)


@pytest.mark.promise(
    "`make update` brings every template change, keeps the team's code and dependency, records the commit",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_a_service_from_before_core_keeps_its_teams_modules_migration_and_dependency(tmp_path: Path) -> None:
    clone = clone_holding(tmp_path, BEFORE_CORE)
    after = commit_working_tree(clone)
    service = service_generated_at(tmp_path, clone, BEFORE_CORE, database="sqlite")
    package = service.path / "src" / "order_manager"
    (package / "models.py").write_text((package / "models.py").read_text() + TEAM_TABLE)
    # Beside the models it goes with: the end of the file held the template's error and status models, which moved
    # to core/ since, so a model appended after them collides with their removal (the CHANGELOG says so).
    replace_once(package / "schemas.py", OUT_MODEL, TEAM_SCHEMA + OUT_MODEL)
    service.make("migrate")
    service.make("migration", "MESSAGE=add tags")
    [team_migration] = [path.name for path in (package / "migrations" / "versions").glob("*_add_tags.py")]
    add_team_work(service)

    result = service.make("update", f"REF={after}")

    assert cruft_record(service.path)["commit"] == after
    for path in service.path.rglob("*"):
        if path.is_file() and not {".venv", ".git", "var"} & set(path.parts):
            assert not path.name.endswith(".rej"), f"rejected hunks: {path}"
            assert not CONFLICT_MARKER.search(path.read_text(errors="replace")), f"conflict markers in {path}"
    assert (package / "core" / "config.py").is_file() and not (package / "config.py").exists()
    assert "src/order_manager/core/db.py" in result.stdout
    assert TEAM_TABLE in (package / "models.py").read_text()
    assert TEAM_SCHEMA in (package / "schemas.py").read_text()
    assert 'TEAM_NOTE = "kept through template updates"' in (package / "api.py").read_text()
    assert (package / "migrations" / "versions" / team_migration).is_file()
    assert TEAM_DEPENDENCY in (service.path / "pyproject.toml").read_text()
    service.install()
    # The team's test of its dependency, and the service's own test that the models and the migrations agree.
    service.make("test")
    # The template's new migrations and the team's follow the same one: the next migration joins the two lines.
    service.make("migration", "MESSAGE=after the update")
    versions = package / "migrations" / "versions"
    [merge] = versions.glob("*_merge_the_template_s_migrations_with_*.py")
    run_in(service.path, ".venv/bin/ruff", "check", str(merge))
    run_in(service.path, ".venv/bin/ruff", "format", "--check", str(merge))
    service.make("test")


# ---------------------------------------------------------------------------------------------------------------
# Releases: a template clone with tags v1.0.0 and v1.1.0, and a commit on main past the newest release.


@dataclass
class ReleasedTemplate:
    path: Path
    commits: dict[str, str]  # "v1.0.0", "v1.1.0", "main" -> commit


def release(template: Path, tag: str, entry: str) -> str:
    """Commit ``entry`` to CHANGELOG.md under the heading of release ``tag`` and tag that commit."""
    heading = f"## {tag} (2026-12-01)\n\n" + (f"{entry}\n\n" if entry else "")
    replace_once(template / "CHANGELOG.md", "## Unreleased\n\n", f"## Unreleased\n\n{heading}")
    commit_all(template, f"Release {tag}")
    git("tag", "--annotate", tag, "--message", tag, cwd=template)
    return git("rev-parse", "HEAD", cwd=template)


@pytest.fixture(scope="module")
def released_template(tmp_path_factory: pytest.TempPathFactory) -> ReleasedTemplate:
    path = tmp_path_factory.mktemp("released-template")
    template_repository(path)
    service = path / SERVICE_TEMPLATE
    commits = {"v1.0.0": release(path, "v1.0.0", "")}
    (service / "SECURITY.md").write_text("# Security\n\nReport a vulnerability to the owning team.\n")
    commits["v1.1.0"] = release(path, "v1.1.0", "- SECURITY.md says where to report. **After updating:** nothing.")
    (service / "CODEOWNERS").write_text("* @owning-team\n")
    entry = "- CODEOWNERS names the owning team. **After updating:** nothing."
    replace_once(path / "CHANGELOG.md", "## Unreleased\n\n", f"## Unreleased\n\n{entry}\n\n")
    commit_all(path, "Past the newest release")
    commits["main"] = git("rev-parse", "HEAD", cwd=path)
    return ReleasedTemplate(path=path, commits=commits)


@dataclass
class ReleaseSteps:
    """A service generated at v1.0.0, and what each step of its life with releases printed."""

    service: TeamService
    records: dict[str, str]
    steps: dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def release_steps(tmp_path_factory: pytest.TempPathFactory, released_template: ReleasedTemplate) -> ReleaseSteps:
    root = tmp_path_factory.mktemp("released")
    generated = cruft_create(root, released_template.path, "v1.0.0")
    git("init", "--quiet", "--initial-branch", "main", cwd=generated)
    commit_all(generated, "Generated from the template")
    # The steps run in a fresh clone of the service, before any `make install`.
    git("clone", "--quiet", str(generated), "clone", cwd=root)
    service = TeamService(path=root / "clone", repo=root / "clone", manager="uv", shared=False)
    python = f"PYTHON={python_executable('3.12')}"
    steps, records = {}, {"generated": cruft_record(service.path)["commit"]}
    steps["check behind"] = service.make("template-check", python, check=False)
    steps["update"] = service.make("update", python)
    records["update"] = cruft_record(service.path)["commit"]
    commit_all(service.repo, "Update to the newest release")
    steps["check at release"] = service.make("template-check", python, check=False)
    steps["update to main"] = service.make("update", python, "REF=main")
    records["update to main"] = cruft_record(service.path)["commit"]
    commit_all(service.repo, "Update to the template's main")
    steps["update past release"] = service.make("update", python, check=False)
    records["update past release"] = cruft_record(service.path)["commit"]
    steps["check past release"] = service.make("template-check", python, check=False)
    return ReleaseSteps(service=service, records=records, steps=steps)


@pytest.mark.promise(
    "`make update` goes to the newest release; `make template-check` names the releases behind", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_template_check_names_the_releases_a_service_is_behind(
    release_steps: ReleaseSteps, released_template: ReleasedTemplate
) -> None:
    result = release_steps.steps["check behind"]

    assert release_steps.records["generated"] == released_template.commits["v1.0.0"]
    assert result.returncode != 0
    assert "release v1.1.0" in result.stderr and released_template.commits["v1.1.0"][:12] in result.stderr
    assert "  v1.1.0 (2026-12-01)" in result.stderr.splitlines()
    assert "v1.0.0" not in result.stderr


@pytest.mark.promise(
    "`make update` goes to the newest release; `make template-check` names the releases behind", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_update_takes_the_newest_release_not_the_default_branch(
    release_steps: ReleaseSteps, released_template: ReleasedTemplate
) -> None:
    assert release_steps.records["update"] == released_template.commits["v1.1.0"]
    assert "release v1.1.0" in release_steps.steps["update"].stdout
    old, new = (f"{tag} ({released_template.commits[tag][:12]})" for tag in ("v1.0.0", "v1.1.0"))
    assert f"Updating from template commit {old} to {new}, " in release_steps.steps["update"].stdout
    assert "SECURITY.md says where to report" in release_steps.steps["update"].stdout
    assert "CODEOWNERS" not in release_steps.steps["update"].stdout
    check = release_steps.steps["check at release"]
    assert check.returncode == 0 and "Up to date with the template's release v1.1.0" in check.stdout


@pytest.mark.promise(
    "`make update` goes to the newest release; `make template-check` names the releases behind", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_a_service_past_the_newest_release_stays_where_it_is(
    release_steps: ReleaseSteps, released_template: ReleasedTemplate
) -> None:
    assert release_steps.records["update to main"] == released_template.commits["main"]
    assert (release_steps.service.path / "CODEOWNERS").is_file()
    past = release_steps.steps["update past release"]
    assert past.returncode == 0 and "nothing to do" in past.stdout and "is past it" in past.stdout
    assert release_steps.records["update past release"] == released_template.commits["main"]
    assert release_steps.steps["check past release"].returncode == 0


# ---------------------------------------------------------------------------------------------------------------
# Many services at once: the example system's two services and a third generated before the template moved on, the
# third colliding, updated with one command at the root, as a team runs it: `uvx --from <template> template-updater
# fleet`.


@dataclass
class FleetRun:
    root: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def fleet_run(
    tmp_path_factory: pytest.TempPathFactory, moving_template: MovingTemplate, team_services: dict[str, TeamService]
) -> FleetRun:
    assert moving_template.after, "team_services moves the template on after generating"
    root = tmp_path_factory.mktemp("fleet")
    shutil.copytree(SHARED_PACKAGE_DIR, root / "libs" / "discount_calculator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "dist", "build"))  # fmt: skip
    (root / "services").mkdir()
    for answers in (
        {"use_discount_calculator": True, "discount_calculator_path": "../../libs/discount_calculator"},
        {"service_name": "user_manager", "resource_name": "user"},
        {"service_name": "inventory_manager", "resource_name": "item", "database": "sqlite"},
    ):
        cruft_create(root / "services", moving_template.path, moving_template.before, **answers)
    git("init", "--quiet", "--initial-branch", "main", cwd=root)
    commit_all(root, "Generated from the template")
    # The line the template changes too: inventory_manager's update collides.
    replace_once(root / "services" / "inventory_manager" / ".gitignore", ".venv/\n", ".venv*/\n")
    commit_all(root, "Team work on inventory_manager")
    command = ["tool", "run", "--quiet", "--from", str(moving_template.path), "template-updater", "fleet"]
    python = f"PYTHON={python_executable('3.12')}"
    result = run_in(root, str(TOOLS_BIN / "uv"), *command, "--make", python, check=False)
    return FleetRun(root=root, result=result)


@pytest.mark.promise(
    "One command updates every service of a monorepo, commits each, continues past a collision and names it",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_fleet_updates_every_service_continues_past_a_collision_and_fails_naming_it(
    fleet_run: FleetRun, moving_template: MovingTemplate
) -> None:
    rows = {line.split()[0]: line for line in fleet_run.result.stdout.splitlines() if line.startswith("services/")}

    assert fleet_run.result.returncode == 1, fleet_run.result.stdout + fleet_run.result.stderr
    assert set(rows) == {"services/inventory_manager", "services/order_manager", "services/user_manager"}
    for name in ("order_manager", "user_manager"):
        moved = [moving_template.before[:12], moving_template.after[:12], "updated,"]
        assert rows[f"services/{name}"].split()[1:4] == moved
    collided = rows["services/inventory_manager"]
    assert "needs a person" in collided and ".gitignore" in collided
    assert "1 of 3 services need a person: services/inventory_manager" in fleet_run.result.stderr


@pytest.mark.promise(
    "One command updates every service of a monorepo, commits each, continues past a collision and names it",
    layer="update",
)
@pytest.mark.install
@pytest.mark.network
def test_fleet_commits_each_update_and_leaves_a_collided_service_as_it_was(
    fleet_run: FleetRun, moving_template: MovingTemplate
) -> None:
    services = fleet_run.root / "services"

    assert git("status", "--porcelain", cwd=fleet_run.root) == ""
    for name in ("order_manager", "user_manager"):
        assert cruft_record(services / name)["commit"] == moving_template.after
        assert (services / name / "SECURITY.md").is_file()
    assert cruft_record(services / "inventory_manager")["commit"] == moving_template.before
    assert ".venv*/" in (services / "inventory_manager" / ".gitignore").read_text().splitlines()
    assert not (services / "inventory_manager" / "SECURITY.md").exists()
    subjects = git("log", "--format=%s", cwd=fleet_run.root).splitlines()
    assert [subject.split(" from")[0] for subject in subjects[:2]] == [
        "Update services/user_manager",
        "Update services/order_manager",
    ]


# ---------------------------------------------------------------------------------------------------------------
# Update pull requests: `make update-pr`, as the template-update workflow runs it, in a fresh clone of a service
# whose remote is a local bare repository, with a stand-in for the GitHub CLI that records what it is asked.

GH_STAND_IN = '''#!/usr/bin/env python3
"""Stands in for the GitHub CLI: records each call, with the text of a --body-file, and answers like gh."""
import json
import os
import sys
from pathlib import Path

state = Path(os.environ["GH_STAND_IN_STATE"])
args = sys.argv[1:]
call = {"args": args, "token": os.environ.get("GH_TOKEN", "")}
if "--body-file" in args:
    call["body"] = Path(args[args.index("--body-file") + 1]).read_text()
with (state / "calls.jsonl").open("a") as calls:
    calls.write(json.dumps(call) + "\\n")
number = state / "number"
if args[:2] == ["pr", "list"]:
    print(number.read_text() if number.exists() else "")
elif args[:2] == ["pr", "create"]:
    number.write_text("7")
    print("https://github.com/org/service/pull/7")
'''


@dataclass
class PullRequestService:
    """A service generated before the template moved on, pushed to its remote, and the stand-in's records."""

    remote: Path
    state: Path
    root: Path

    def update_pr(self, *, token: str = "stand-in-token") -> subprocess.CompletedProcess[str]:
        """`make update-pr` in a fresh clone of the remote, as a workflow run checks it out."""
        clone = self.root / f"run-{len(list(self.root.glob('run-*')))}"
        git("clone", "--quiet", str(self.remote), str(clone), cwd=self.root)
        bin_dir = self.root / "bin"
        environment = clean_environment({**GIT_IDENTITY, "GH_TOKEN": token, "GH_STAND_IN_STATE": str(self.state),
                                         "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
        python = f"PYTHON={python_executable('3.12')}"
        return subprocess.run(["make", "update-pr", python], cwd=clone, env=environment, capture_output=True,
                              text=True, timeout=900, check=False)  # fmt: skip

    def calls(self) -> list[dict[str, Any]]:
        log = self.state / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []

    def branch_record(self) -> dict[str, Any]:
        text = git("show", "template-update:.cruft.json", cwd=self.remote)
        return json.loads(text)


def pull_request_service(root: Path, template: MovingTemplate, collide: bool) -> PullRequestService:
    service = cruft_create(root, template.path, template.before, include_ci_workflow=True)
    git("init", "--quiet", "--initial-branch", "main", cwd=service)
    commit_all(service, "Generated from the template")
    if collide:  # the line the template changes too
        replace_once(service / ".gitignore", ".venv/\n", ".venv*/\n")
        commit_all(service, "Team work")
    remote = root / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch", "main", str(remote), cwd=root)
    git("push", "--quiet", str(remote), "main", cwd=service)
    (root / "bin").mkdir()
    (root / "bin" / "gh").write_text(GH_STAND_IN)
    (root / "bin" / "gh").chmod(0o755)
    (root / "state").mkdir()
    return PullRequestService(remote=remote, state=root / "state", root=root)


@pytest.fixture(scope="module")
def pr_services(
    tmp_path_factory: pytest.TempPathFactory, moving_template: MovingTemplate, team_services: dict[str, TeamService]
) -> dict[str, PullRequestService]:
    assert moving_template.after, "team_services moves the template on after generating"
    return {
        name: pull_request_service(tmp_path_factory.mktemp(f"pr-{name}"), moving_template, collide=name == "collides")
        for name in ("clean", "collides", "no-token")
    }


@pytest.mark.promise(
    "`make update-pr` opens one update pull request, then refreshes it; a collision opens a draft", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_update_pr_pushes_the_update_and_opens_one_pull_request_then_refreshes_it(
    pr_services: dict[str, PullRequestService], moving_template: MovingTemplate
) -> None:
    service = pr_services["clean"]

    first = service.update_pr()
    second = service.update_pr()

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert service.branch_record()["commit"] == moving_template.after
    pr_calls = [call for call in service.calls() if call["args"][0] == "pr"]
    creates = [call for call in pr_calls if call["args"][1] == "create"]
    edits = [call for call in pr_calls if call["args"][1] == "edit"]
    assert len(creates) == 1 and len(edits) == 1, pr_calls
    args = creates[0]["args"]
    assert args[args.index("--base") + 1] == "main" and args[args.index("--head") + 1] == "template-update"
    assert "--draft" not in args
    assert CHANGELOG_ENTRY in creates[0]["body"] and "`SECURITY.md`" in creates[0]["body"]
    assert edits[0]["args"][2] == "7" and edits[0]["body"] == creates[0]["body"]
    assert all(call["token"] == "stand-in-token" for call in service.calls())
    assert "already holds this update" in second.stdout


@pytest.mark.promise(
    "`make update-pr` opens one update pull request, then refreshes it; a collision opens a draft", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_update_pr_opens_a_colliding_update_as_a_draft_that_names_the_files(
    pr_services: dict[str, PullRequestService],
) -> None:
    service = pr_services["collides"]

    result = service.update_pr()

    assert result.returncode == 0, result.stderr
    [create] = [call for call in service.calls() if call["args"][:2] == ["pr", "create"]]
    assert "--draft" in create["args"]
    assert "needs a person" in create["args"][create["args"].index("--title") + 1]
    assert "**Needs a person.**" in create["body"] and "- `.gitignore`" in create["body"]
    assert "<<<<<<<" in git("show", "template-update:.gitignore", cwd=service.remote)


@pytest.mark.promise(
    "`make update-pr` opens one update pull request, then refreshes it; a collision opens a draft", layer="update"
)
@pytest.mark.install
@pytest.mark.network
def test_update_pr_without_a_token_says_which_secret_and_changes_nothing(
    pr_services: dict[str, PullRequestService],
) -> None:
    service = pr_services["no-token"]

    result = service.update_pr(token="")

    assert result.returncode == 0, result.stderr
    assert "TEMPLATE_UPDATE_TOKEN" in result.stdout and "workflows" in result.stdout
    assert service.calls() == []
    assert git("branch", "--list", "template-update", cwd=service.remote) == ""
