"""`make update` and `make template-check`: take the template's changes with cruft, merge, re-lock.

Both run in the service's directory, in the environment its Makefile makes from requirements.txt beside this
package, and go to the template's newest release (its highest tag vMAJOR.MINOR.PATCH; its default branch while it
has none) unless given a REF. A service already past that release (generated from the default branch) is up to
date.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from template_updater.merge import REPORT_VARIABLE
from template_updater.process import UpdateError, git, run, short

SERVICE_DIR = Path.cwd()
BIN = Path(sys.executable).parent
RECORD = SERVICE_DIR / ".cruft.json"
CHANGELOG = "CHANGELOG.md"
DRIVER = "template-dependencies"
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)
RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# Where this package's code lies: the merge driver runs it as a module from there.
CODE_DIR = Path(__file__).resolve().parent.parent


def read_record() -> dict[str, Any]:
    if not RECORD.is_file():
        raise UpdateError(
            ".cruft.json is missing, so the template this service came from is unknown; "
            "link it with `.venv/tools/update/bin/cruft link <template>` and commit the file"
        )
    record: dict[str, Any] = json.loads(RECORD.read_text(encoding="utf-8"))
    if not record.get("commit"):
        raise UpdateError(
            ".cruft.json records no template commit (the template was not a git repository); "
            "link it with `.venv/tools/update/bin/cruft link <template git URL>` and commit the file"
        )
    return record


@contextmanager
def template_clone(template: str, clone: Path | None = None) -> Iterator[Path]:
    """A bare clone of the template (blobs fetched on demand from a remote), to resolve REF and read CHANGELOG:
    ``clone`` when the Makefile has made one already."""
    if clone is not None:
        yield clone
        return
    with tempfile.TemporaryDirectory(prefix="template-") as tmp:
        clone = Path(tmp) / "template.git"
        result = run(["git", "clone", "--quiet", "--bare", "--filter=blob:none", template, str(clone)])
        if result.returncode != 0:
            reason = result.stderr.strip().splitlines()[-1:] or ["no output"]
            raise UpdateError(f"cannot clone the template {template!r} recorded in .cruft.json: {reason[0]}")
        yield clone


def resolve(clone: Path, ref: str | None, template: str) -> str:
    result = run(["git", "rev-parse", "--verify", "--quiet", (ref or "HEAD") + "^" + "{commit}"], cwd=clone)
    if result.returncode != 0:
        raise UpdateError(f"REF={ref} is not a branch, tag or commit of the template {template}; use one that is")
    return result.stdout.strip()


def version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in RELEASE_TAG.match(tag).groups())  # type: ignore[union-attr]


def releases(clone: Path) -> list[str]:
    """The template's release tags, oldest first."""
    return sorted((tag for tag in git("tag", "--list", "v*", cwd=clone).split() if RELEASE_TAG.match(tag)), key=version)


def release_tags(template: str | Path, cwd: Path | None = None) -> dict[str, str]:
    """The release of each commit of ``template`` (a clone, a path or a URL, as git reads it from ``cwd``) that is
    one: the newest where a commit has several."""
    # git runs from the top of the work tree around ``cwd``, a monorepo's root for a service in it: a relative path
    # would be read from there.
    local = Path(cwd or ".") / str(template)
    location = str(local.resolve()) if local.exists() else str(template)
    commit_of: dict[str, str] = {}
    for line in git("ls-remote", "--tags", location, cwd=cwd).splitlines():
        object_name, ref = line.split("\t")
        tag = ref.removeprefix("refs/tags/")
        if tag.endswith("^{}"):  # an annotated tag's commit; its own line names the tag object
            commit_of[tag.removesuffix("^{}")] = object_name
        else:
            commit_of.setdefault(tag, object_name)
    found: dict[str, str] = {}
    for tag in sorted(filter(RELEASE_TAG.match, commit_of), key=version):
        found[commit_of[tag]] = tag
    return found


def described(commit: str, tags: Mapping[str, str]) -> str:
    """A template commit as a person reads it: its release, then its short hash, where it is one; else the hash."""
    return f"{tags[commit]} ({short(commit)})" if commit in tags else short(commit)


def target(clone: Path, ref: str | None, template: str) -> tuple[str, str]:
    """The commit to update to, and how to name it: REF, else the newest release, else the default branch."""
    if ref:
        return resolve(clone, ref, template), f"{ref} (REF)"
    tags = releases(clone)
    if not tags:
        return resolve(clone, None, template), "default branch (it has no release yet)"
    return resolve(clone, tags[-1], template), f"release {tags[-1]}"


def contains(clone: Path, commit: str, ancestor: str) -> bool:
    """Whether ``commit`` has ``ancestor`` in its history (False when either is unknown to the clone)."""
    return run(["git", "merge-base", "--is-ancestor", ancestor, commit], cwd=clone).returncode == 0


def releases_between(clone: Path, old: str, new: str) -> list[str]:
    """The releases ``new`` has and ``old`` has not, oldest first, each with its CHANGELOG heading at ``new``."""
    changelog = run(["git", "show", f"{new}:{CHANGELOG}"], cwd=clone).stdout.splitlines()
    found = []
    for tag in releases(clone):
        if contains(clone, new, tag) and not contains(clone, old, tag):
            heading = next((line for line in changelog if re.match(rf"## \[?{re.escape(tag)}\b", line)), "")
            found.append(heading.removeprefix("## ") or tag)
    return found


def refuse_uncommitted_changes() -> None:
    if run(["git", "rev-parse", "--is-inside-work-tree"]).returncode != 0:
        raise UpdateError(
            "this service is not in a git repository, which `make update` merges with; "
            "run `git init && git add -A && git commit -m 'Generated from the template'` first"
        )
    # Like cruft, the whole repository: the merge writes to its index.
    changes = git("status", "--porcelain").splitlines()
    if changes:
        raise UpdateError(
            f"the working tree has uncommitted changes ({len(changes)}, e.g. {changes[0].split(maxsplit=1)[-1]}); "
            "commit or stash them, then run `make update` again"
        )


def merge_driver_environment(attributes: Path, report: Path) -> dict[str, str]:
    """The environment of cruft's `git apply -3`: the dependency merge driver, for this command only."""
    env = dict(os.environ)
    driver = " ".join(shlex.quote(part) for part in (str(BIN / "python"), "-m", "template_updater"))
    settings = {
        f"merge.{DRIVER}.name": "dependency lists merged as sets",
        f"merge.{DRIVER}.driver": f"{driver} merge-dependencies %O %A %B %P",
        "core.attributesFile": str(attributes),
    }
    count = int(env.get("GIT_CONFIG_COUNT") or 0)
    for index, (key, value) in enumerate(settings.items(), start=count):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(count + len(settings))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE_DIR), env.get("PYTHONPATH")]))
    env["TEMPLATE_UPDATE"] = "1"  # the template's hooks neither lock nor record during the update's renders
    env[REPORT_VARIABLE] = str(report)
    return env


def changed_files() -> list[str]:
    tracked = git("diff", "--name-only", "--relative", "HEAD").splitlines()
    untracked = git("ls-files", "--others", "--exclude-standard").splitlines()
    return sorted(set(tracked) | set(untracked))


def collisions(files: Iterable[str]) -> list[str]:
    """Files the update could not merge: unmerged in the index, with conflict markers, or rejected hunks."""
    found = set(git("diff", "--name-only", "--relative", "--diff-filter=U").splitlines())
    for name in files:
        path = SERVICE_DIR / name
        rejected = name.endswith(".rej")
        if rejected or (path.is_file() and CONFLICT_MARKER.search(path.read_text(encoding="utf-8", errors="replace"))):
            found.add(name)
    return sorted(found)


def changelog_entries(clone: Path, old: str, new: str) -> list[str]:
    diff = run(["git", "diff", "--unified=0", old, new, "--", CHANGELOG], cwd=clone).stdout
    return [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def print_collisions(files: list[str], notes: list[str]) -> None:
    print("ERROR: the template changed lines this service changed too; both versions are kept in:", file=sys.stderr)
    for name in files:
        how = "hunks that did not apply, see the file of the same name" if name.endswith(".rej") else "conflict markers"
        print(f"  {name}  ({how})", file=sys.stderr)
    for note in notes:
        print(f"  {note}", file=sys.stderr)
    print(
        "To finish: edit each file so it keeps both intents and has no <<<<<<< ======= >>>>>>> lines left\n"
        "(apply a .rej file's hunks by hand, then delete it), then run\n"
        "  make lock install test\n"
        "  git add -A && git commit -m 'Update from the template'\n"
        ".cruft.json already records the new template commit. To abandon the update instead:\n"
        "  git reset --hard && git clean -fd -- .",
        file=sys.stderr,
    )


@dataclass
class Taken:
    """What an update did: from and to, and what it changed, or where it collided."""

    template: str
    old: str
    new: str
    name: str
    releases: list[str]
    # The release of each tagged commit of the template, to name the two commits by.
    tags: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    conflicted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)

    @property
    def collided(self) -> bool:
        return bool(self.conflicted or self.notes)


def take(ref: str | None, clone: Path | None = None) -> Taken | None:
    """Update the working tree to the template's newest release (or REF) and re-lock; None when up to date.
    On a collision the tree keeps both versions and nothing is locked."""
    record = read_record()
    template, old = str(record["template"]), str(record["commit"])
    with template_clone(template, clone) as clone:
        new, name = target(clone, ref, template)
        if new == old or (ref is None and contains(clone, old, new)):
            past = "" if new == old else f"; this service, at {short(old)}, is past it (REF=<branch> goes further)"
            print(f"Already up to date with the template's {name} ({short(new)}, {template}){past}; nothing to do.")
            return None
        refuse_uncommitted_changes()
        taken = Taken(template, old, new, name, releases_between(clone, old, new), release_tags(clone))
        print(
            f"Updating from template commit {described(old, taken.tags)} to {described(new, taken.tags)}, {name} "
            f"({template}) ..."
        )
        for release in taken.releases:
            print(f"  {release}")
        with tempfile.TemporaryDirectory(prefix="template-update-") as tmp:
            attributes, report = Path(tmp) / "attributes", Path(tmp) / "report"
            attributes.write_text(
                "".join(f"{pattern} merge={DRIVER}\n" for pattern in ("pyproject.toml", "requirements*.in"))
            )
            report.touch()
            env = merge_driver_environment(attributes, report)
            result = run([str(BIN / "cruft"), "update", "--skip-apply-ask", "--checkout", new], env=env)
            taken.notes = report.read_text().splitlines()
        if result.returncode != 0 or read_record()["commit"] != new:
            output = (result.stderr or result.stdout).strip().splitlines()
            raise UpdateError(f"cruft update did not update the service: {' | '.join(output[-3:])}")
        taken.entries = changelog_entries(clone, old, new)
        taken.conflicted = collisions(changed_files())
    if not taken.collided:
        # Lock files are skipped by the merge ([tool.cruft] skip): the service's own tool re-locks the merged lists.
        lock = subprocess.run(["make", "lock"], cwd=SERVICE_DIR, check=False)
        if lock.returncode != 0:
            raise UpdateError("the template's changes are merged, but `make lock` failed; fix it and run `make lock`")
    taken.files = changed_files()
    return taken


def update(ref: str | None, clone: Path | None = None) -> int:
    taken = take(ref, clone)
    if taken is None:
        return 0
    if taken.collided:
        print_collisions(taken.conflicted, taken.notes)
        return 1
    print(f"\nUpdated to template commit {described(taken.new, taken.tags)}. Files changed:")
    for name in taken.files:
        print(f"  {name}")
    since = described(taken.old, taken.tags)
    print(f"\nThe template's {CHANGELOG} since {since}:" if taken.entries else f"\nNo {CHANGELOG} entries.")
    for line in taken.entries:
        print(f"  {line}")
    print("\nNext: make install test, review `git diff HEAD`, then commit.")
    return 0


def check(ref: str | None, clone: Path | None = None) -> int:
    record = read_record()
    template, old = str(record["template"]), str(record["commit"])
    with template_clone(template, clone) as clone:
        new, name = target(clone, ref, template)
        if new == old or contains(clone, old, new):
            at = "" if new == old else f"; this service is at {short(old)}, past it"
            print(f"Up to date with the template's {name} ({short(new)}, {template}){at}.")
            return 0
        behind = releases_between(clone, old, new)
    print(
        f"ERROR: behind the template {template}: this service is at {short(old)}, the template's {name} at "
        f"{short(new)}; "
        f"run `make update{f' REF={ref}' if ref else ''}`",
        file=sys.stderr,
    )
    for release in behind:
        print(f"  {release}", file=sys.stderr)
    return 1
