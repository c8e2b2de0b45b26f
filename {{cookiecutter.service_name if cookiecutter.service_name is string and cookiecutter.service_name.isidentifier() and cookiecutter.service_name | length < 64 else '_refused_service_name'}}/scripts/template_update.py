"""Keep this service on its template: `make update`, `make template-check`, and the merge driver for dependencies.

    update [--ref REF]    take the template's changes since the commit in .cruft.json (cruft update), re-lock
    check [--ref REF]     exit 1, naming both commits and the releases in between, when the template has changes
                          this service has not taken
    merge-dependencies BASE OURS THEIRS PATH
                          the git merge driver `update` gives cruft's `git apply -3`: dependency lists merged as
                          sets (tomlkit keeps pyproject.toml's formatting), every other line as text

Runs in the environment `make update` makes for it (.venv/tools/update: cruft, cookiecutter, tomlkit and packaging at
the versions the template pins); cruft and the merge driver run from that environment too.

Without REF both go to the template's newest release: its highest tag vMAJOR.MINOR.PATCH (the template's default
branch while it has none). A service already past that release (generated from the default branch) is up to date.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.exceptions import TOMLKitError

SERVICE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RECORD = SERVICE_DIR / ".cruft.json"
CHANGELOG = "CHANGELOG.md"
DRIVER = "template-dependencies"
# Where the driver appends the dependency collisions it found, for `update` to report them.
REPORT_VARIABLE = "TEMPLATE_UPDATE_REPORT"
CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)
LABELS = ("this service", "template before", "template now")
RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


class UpdateError(Exception):
    """Why the update cannot go on; the message is the whole line shown to the user."""


def run(
    command: list[str], env: Mapping[str, str] | None = None, cwd: Path = SERVICE_DIR
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def git(*args: str, cwd: Path = SERVICE_DIR) -> str:
    result = run(["git", *args], cwd=cwd)
    if result.returncode != 0:
        raise UpdateError(f"`git {' '.join(args)}` failed: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout.strip()


def short(commit: str) -> str:
    return commit[:12]


# ---------------------------------------------------------------------------------------------------------------
# make update / make template-check


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
def template_clone(template: str) -> Iterator[Path]:
    """A bare clone of the template (blobs fetched on demand from a remote), to resolve REF and read CHANGELOG."""
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


def releases(clone: Path) -> list[str]:
    """The template's release tags, oldest first."""
    tags = [tag for tag in git("tag", "--list", "v*", cwd=clone).split() if RELEASE_TAG.match(tag)]
    return sorted(tags, key=lambda tag: tuple(int(part) for part in RELEASE_TAG.match(tag).groups()))  # type: ignore[union-attr]


def target(clone: Path, ref: str | None, template: str) -> tuple[str, str]:
    """The commit to update to, and how to name it: REF, else the newest release, else the default branch."""
    if ref:
        return resolve(clone, ref, template), f"REF={ref}"
    tags = releases(clone)
    if not tags:
        return resolve(clone, None, template), "its default branch (the template has no release yet)"
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
    driver = " ".join(shlex.quote(str(part)) for part in (BIN / "python", Path(__file__).resolve()))
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


def update(ref: str | None) -> int:
    record = read_record()
    template, old = str(record["template"]), str(record["commit"])
    with template_clone(template) as clone:
        new, name = target(clone, ref, template)
        if new == old or (ref is None and contains(clone, old, new)):
            past = "" if new == old else f"; this service, at {short(old)}, is past it (REF=<branch> goes further)"
            print(f"Already up to date with the template's {name} ({short(new)}, {template}){past}; nothing to do.")
            return 0
        refuse_uncommitted_changes()
        print(f"Updating from template commit {short(old)} to {short(new)}, {name} ({template}) ...")
        for release in releases_between(clone, old, new):
            print(f"  {release}")
        with tempfile.TemporaryDirectory(prefix="template-update-") as tmp:
            attributes, report = Path(tmp) / "attributes", Path(tmp) / "report"
            attributes.write_text(
                "".join(f"{pattern} merge={DRIVER}\n" for pattern in ("pyproject.toml", "requirements*.in"))
            )
            report.touch()
            env = merge_driver_environment(attributes, report)
            result = run([str(BIN / "cruft"), "update", "--skip-apply-ask", "--checkout", new], env=env)
            notes = report.read_text().splitlines()
        if result.returncode != 0 or read_record()["commit"] != new:
            output = (result.stderr or result.stdout).strip().splitlines()
            raise UpdateError(f"cruft update did not update the service: {' | '.join(output[-3:])}")
        files = changed_files()
        conflicted = collisions(files)
        if conflicted or notes:
            print_collisions(conflicted, notes)
            return 1
        # Lock files are skipped by the merge ([tool.cruft] skip): the service's own tool re-locks the merged lists.
        lock = subprocess.run(["make", "lock"], cwd=SERVICE_DIR, check=False)
        if lock.returncode != 0:
            raise UpdateError("the template's changes are merged, but `make lock` failed; fix it and run `make lock`")
        print(f"\nUpdated to template commit {short(new)}. Files changed:")
        for name in changed_files():
            print(f"  {name}")
        entries = changelog_entries(clone, old, new)
        print(f"\nThe template's {CHANGELOG} since {short(old)}:" if entries else f"\nNo {CHANGELOG} entries.")
        for line in entries:
            print(f"  {line}")
    print("\nNext: make install test, review `git diff HEAD`, then commit.")
    return 0


def check(ref: str | None) -> int:
    record = read_record()
    template, old = str(record["template"]), str(record["commit"])
    with template_clone(template) as clone:
        new, name = target(clone, ref, template)
        if new == old or contains(clone, old, new):
            print(f"Up to date with the template's {name} ({short(new)}, {template}); this service is at {short(old)}.")
            return 0
        behind = releases_between(clone, old, new)
    print(
        f"ERROR: behind the template {template}: this service is at {short(old)}, its {name} at {short(new)}; "
        f"run `make update{f' REF={ref}' if ref else ''}`",
        file=sys.stderr,
    )
    for release in behind:
        print(f"  {release}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------------------------
# The merge driver: dependency lists as sets


def requirement_key(text: str) -> str:
    """What identifies an entry: its normalized name (and marker), whatever its bounds."""
    entry = text.split(" #", 1)[0].strip()
    try:
        requirement = Requirement(entry)
    except InvalidRequirement:
        return " ".join(entry.split())  # an option line such as `-r requirements.in`
    name = canonicalize_name(requirement.name)
    return f"{name}; {requirement.marker}" if requirement.marker else name


def normalized(value: Any) -> Any:
    if isinstance(value, str):
        entry = value.split(" #", 1)[0].strip()
        try:
            return str(Requirement(entry))
        except InvalidRequirement:
            return " ".join(entry.split())
    return value


def merge_sets(
    base: Mapping[str, Any], ours: Mapping[str, Any], theirs: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Per entry: the side that changed it wins; both changed it differently is a collision. None = absent."""
    result: dict[str, Any] = {}
    problems = []
    for key in dict.fromkeys([*ours, *theirs, *base]):
        b, o, t = (normalized(side.get(key)) for side in (base, ours, theirs))
        if t == b or o == t:
            result[key] = ours.get(key)
        elif o == b:
            result[key] = theirs.get(key)
        else:
            problems.append(f"{key}: this service has {o or 'removed it'}, the template {t or 'removed it'}")
            result[key] = ours.get(key)
    return result, problems


def value_of(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def array_key(item: Any) -> str:
    value = value_of(item)
    return requirement_key(value) if isinstance(value, str) else json.dumps(value, sort_keys=True)


def merge_array(base: list[Any], ours: list[Any], theirs: list[Any]) -> list[str]:
    """Merge into ``ours`` in place (tomlkit keeps its comments and layout); return the collisions."""
    maps = [{array_key(item): value_of(item) for item in side} for side in (base, ours, theirs)]
    result, problems = merge_sets(*maps)
    if problems:
        return problems
    for key, value in result.items():
        keys = [array_key(item) for item in ours]
        if key in keys and value is None:
            del ours[keys.index(key)]
        elif key in keys and normalized(value) != normalized(value_of(ours[keys.index(key)])):
            ours[keys.index(key)] = value
    theirs_keys = [array_key(item) for item in theirs]
    for key, value in result.items():
        keys = [array_key(item) for item in ours]
        if value is None or key in keys:
            continue
        # After the entry that precedes it in the template's list, else first.
        position = theirs_keys.index(key) if key in theirs_keys else len(theirs_keys)
        before = [k for k in theirs_keys[:position] if k in keys]
        ours.insert(keys.index(before[-1]) + 1 if before else 0, value)
    return []


def merge_table(base: Mapping[str, Any], ours: Any, theirs: Mapping[str, Any]) -> list[str]:
    """Poetry's `name = "^1.0"` tables, merged into ``ours`` in place."""
    maps = [
        {str(canonicalize_name(key)): value_of(value) for key, value in side.items()} for side in (base, ours, theirs)
    ]
    result, problems = merge_sets(*maps)
    if problems:
        return problems
    names = {str(canonicalize_name(key)): key for key in [*theirs, *ours]}
    for key, value in result.items():
        name = names[key]
        if value is None and name in ours:
            del ours[name]
        elif value is not None and (name not in ours or value_of(ours[name]) != value):
            ours[name] = copy.deepcopy(theirs[name])
    return []


def dependency_paths(document: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(path, is_table) of every dependency list in a pyproject.toml."""
    yield ("build-system", "requires"), False
    yield ("project", "dependencies"), False
    for name in document.get("project", {}).get("optional-dependencies", {}):
        yield ("project", "optional-dependencies", name), False
    for name in document.get("dependency-groups", {}):
        yield ("dependency-groups", name), False
    poetry = document.get("tool", {}).get("poetry", {})
    yield ("tool", "poetry", "dependencies"), True
    yield ("tool", "poetry", "dev-dependencies"), True
    for name in poetry.get("group", {}):
        yield ("tool", "poetry", "group", name, "dependencies"), True


def lookup(document: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not hasattr(document, "get"):
            return None
        document = document.get(part)
    return document


def align_pyproject(texts: list[str], report: Callable[[str], None]) -> list[str]:
    """Merge each dependency list present in all three versions, and give all three the merged list, so the
    textual merge that follows sees no difference there and merges only the rest of the file."""
    documents = [tomlkit.parse(text) for text in texts]
    base, _, theirs = documents
    for path, is_table in dict.fromkeys(p for document in documents for p in dependency_paths(document)):
        found = [lookup(document, path) for document in documents]
        kind = dict if is_table else list
        if not all(isinstance(item, kind) for item in found):
            continue  # absent somewhere: added or removed as a whole, which the textual merge handles
        merge = merge_table if is_table else merge_array
        problems = merge(*found)
        for problem in problems:
            report(f"{'.'.join(path)}: {problem}")
        if not problems:
            for document in (base, theirs):
                lookup(document, path[:-1])[path[-1]] = copy.deepcopy(found[1])
    return [tomlkit.dumps(document) for document in documents]


def merge_text(texts: list[str], diff3: bool = False) -> tuple[str, int]:
    """git merge-file of (base, ours, theirs): the merged text and the number of conflicts."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / name for name in ("base", "ours", "theirs")]
        for path, text in zip(paths, texts, strict=True):
            path.write_text(text, encoding="utf-8")
        base, ours, theirs = paths
        labels = [arg for label in LABELS for arg in ("-L", label)]
        style = ["--diff3"] if diff3 else []
        command = ["git", "merge-file", "-p", *style, *labels, str(ours), str(base), str(theirs)]
        result = run(command)
        if result.returncode < 0:
            raise UpdateError(f"git merge-file failed: {result.stderr.strip()}")
        return result.stdout, result.returncode


def resolve_requirement_hunks(text: str, report: Callable[[str], None]) -> tuple[str, int]:
    """Resolve the conflicts of a requirements*.in textual merge that are two lists of entries (typically: both
    sides added lines after the same line) as sets; keep any other conflict, markers and all."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    unresolved = 0
    index = 0
    while index < len(lines):
        if not lines[index].startswith("<<<<<<< "):
            out.append(lines[index])
            index += 1
            continue
        block: dict[str, list[str]] = {"ours": [], "base": [], "theirs": []}
        section, end = "ours", index + 1
        while end < len(lines) and not lines[end].startswith(">>>>>>> "):
            if lines[end].startswith("||||||| "):
                section = "base"
            elif lines[end].startswith("======="):
                section = "theirs"
            else:
                block[section].append(lines[end])
            end += 1
        sides = [block["base"], block["ours"], block["theirs"]]
        entries = [{requirement_key(line): line for line in side if not is_note(line)} for side in sides]
        result, problems = merge_sets(*entries)
        for problem in problems:
            report(problem)
        if problems:
            out.extend(lines[index : end + 1])
            unresolved += 1
        else:
            out.extend(merge_requirement_lines(block, result, entries[1]))
        index = end + 1
    return "".join(out), unresolved


def is_note(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def merge_requirement_lines(block: dict[str, list[str]], result: dict[str, Any], ours: Mapping[str, str]) -> list[str]:
    """This service's lines with the template's removals and changes applied, then the template's new lines."""
    kept = []
    for line in block["ours"]:
        if is_note(line):
            kept.append(line)
        elif result.get(requirement_key(line)) is not None:
            kept.append(result[requirement_key(line)])
    added = [
        line
        for line in block["theirs"]
        if line not in block["base"] and line not in kept and (is_note(line) or requirement_key(line) not in ours)
    ]
    return kept + added


def merge_dependencies(base: Path, ours: Path, theirs: Path, name: str) -> int:
    texts = [path.read_text(encoding="utf-8") for path in (base, ours, theirs)]
    problems: list[str] = []

    def report(problem: str) -> None:
        problems.append(f"{name}: {problem}")

    if Path(name).name == "pyproject.toml":
        # Not valid TOML on some side: a plain textual merge, conflicts shown as markers.
        with suppress(TOMLKitError):
            texts = align_pyproject(texts, report)
        merged, conflicts = merge_text(texts)
    else:
        merged, conflicts = merge_text(texts, diff3=True)
        merged, conflicts = resolve_requirement_hunks(merged, report)
    ours.write_text(merged, encoding="utf-8")
    if problems and os.environ.get(REPORT_VARIABLE):
        with open(os.environ[REPORT_VARIABLE], "a", encoding="utf-8") as handle:
            handle.writelines(f"{problem}\n" for problem in problems)
    for problem in problems:
        print(f"dependency collision: {problem}", file=sys.stderr)
    return 1 if conflicts or problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("update", "check"):
        commands.add_parser(command).add_argument("--ref", default=None, help="template branch, tag or commit")
    driver = commands.add_parser("merge-dependencies")
    for argument in ("base", "ours", "theirs", "name"):
        driver.add_argument(argument)
    args = parser.parse_args(argv)
    try:
        if args.command == "update":
            return update(args.ref or None)
        if args.command == "check":
            return check(args.ref or None)
        return merge_dependencies(Path(args.base), Path(args.ours), Path(args.theirs), args.name)
    except UpdateError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
