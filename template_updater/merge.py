"""The git merge driver `make update` gives cruft's `git apply -3`: dependency lists merged as sets.

pyproject.toml's dependency tables and arrays (tomlkit keeps their formatting and comments) and requirements*.in
lines: an entry is its normalized name (and marker), so the team's additions and the template's both stay, and the
template's new bounds apply where the team left an entry alone. Every other line merges as text; a real
disagreement is kept on both sides and reported.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.exceptions import TOMLKitError

from template_updater.process import UpdateError, run

# Where the driver appends the dependency collisions it found, for `update` to report them.
REPORT_VARIABLE = "TEMPLATE_UPDATE_REPORT"
LABELS = ("this service", "template before", "template now")


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
