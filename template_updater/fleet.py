"""Every service under a directory updated in one command: ``python -m template_updater fleet [ROOT]``.

For a monorepo with many services generated from the template. Each service (a directory with a .cruft.json and
a Makefile) is updated with its own ``make update``, so each runs the updater of the version it goes to, and each
successful update is committed on its own, which keeps the tree clean for the next one. A service whose update
collides is put back as it was and named, and the others go on; the run ends with a table and exits 1 if any
service needs a person.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from template_updater.process import UpdateError, git, short
from template_updater.update import release_tags

SKIPPED = {".git", ".venv", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class Outcome:
    service: str
    before: str
    after: str
    result: str
    needs_person: bool


def services(root: Path) -> list[Path]:
    """The services under ``root``: directories with a .cruft.json and a Makefile, outside tool directories."""
    found = []
    for record in root.rglob(".cruft.json"):
        relative = record.parent.relative_to(root)
        if not SKIPPED & set(relative.parts) and (record.parent / "Makefile").is_file():
            found.append(record.parent)
    return sorted(found)


def record(service: Path) -> dict[str, object]:
    try:
        found = json.loads((service / ".cruft.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def recorded_commit(service: Path) -> str:
    return str(record(service).get("commit") or "")


def template_releases(service: Path, known: dict[str, dict[str, str]]) -> dict[str, str]:
    """The releases of the template ``service`` records, looked up once per template (``known``); none when it
    cannot be reached: the table names those commits by their hashes."""
    template = str(record(service).get("template") or "")
    local = service / template
    key = str(local.resolve()) if template and local.exists() else template
    if key not in known:
        try:
            known[key] = release_tags(template, cwd=service) if template else {}
        except UpdateError:
            known[key] = {}
    return known[key]


def collided_files(stderr: str) -> list[str]:
    """The files the updater named as collisions: the indented lines of its report, before "To finish"."""
    report = stderr.split("To finish", 1)[0].splitlines()
    return [line.split()[0] for line in report if line.startswith("  ") and line.strip()]


def update_one(service: Path, name: str, make_arguments: list[str], tags: dict[str, str]) -> Outcome:
    before = recorded_commit(service)
    result = subprocess.run(
        ["make", "update", *make_arguments], cwd=service, capture_output=True, text=True, check=False
    )
    after = recorded_commit(service)
    if result.returncode == 0:
        if not git("status", "--porcelain", "--", ".", cwd=service):
            return Outcome(name, before, after, "up to date", needs_person=False)
        git("add", "--all", "--", ".", cwd=service)
        moved = f"{named(before, tags)} to {named(after, tags)}"
        git("commit", "--quiet", "--message", f"Update {name} from the template ({moved})", cwd=service)
        return Outcome(name, before, after, "updated, committed", needs_person=False)
    # Put the service back as it was, so that the next one starts from a clean tree.
    git("reset", "--quiet", "--hard", cwd=service)
    git("clean", "--quiet", "--force", "-d", "--", ".", cwd=service)
    files = collided_files(result.stderr)
    if "the template changed lines this service changed too" in result.stderr and files:
        why = f"needs a person: {', '.join(files)} collide; run `make update` there"
    else:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        why = f"needs a person: {lines[-1] if lines else f'make update exited {result.returncode}'}"
    return Outcome(name, before, before, why, needs_person=True)


def named(commit: str, tags: dict[str, str]) -> str:
    """A template commit as the table names it: its release where it is one, else its short hash."""
    return tags.get(commit) or short(commit) or "-"


def table(outcomes: list[Outcome], tags: dict[str, str]) -> str:
    """One row per service: where it came from and went to (releases where the commits are tagged), and how."""
    rows = [("service", "from", "to", "result")]
    rows += [(o.service, named(o.before, tags), named(o.after, tags), o.result) for o in outcomes]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    )


def fleet(root: Path, ref: str | None, make_arguments: list[str]) -> int:
    root = root.resolve()
    if not root.is_dir():
        raise UpdateError(f"{root} is not a directory; give the root of the repository that holds the services")
    found = services(root)
    if not found:
        raise UpdateError(f"no service under {root}: a service is a directory with a .cruft.json and a Makefile")
    changes = git("status", "--porcelain", cwd=root).splitlines()
    if changes:
        raise UpdateError(
            f"the working tree has uncommitted changes ({len(changes)}, e.g. {changes[0].split(maxsplit=1)[-1]}); "
            "commit or stash them first: each service's update is committed on its own"
        )
    arguments = [*make_arguments, *([f"REF={ref}"] if ref else [])]
    outcomes: list[Outcome] = []
    tags: dict[str, str] = {}
    known: dict[str, dict[str, str]] = {}
    for service in found:
        name = str(service.relative_to(root))
        print(f"Updating {name} ...", flush=True)
        tags.update(template_releases(service, known))
        outcomes.append(update_one(service, name, arguments, tags))
    print("\n" + table(outcomes, tags))
    blocked = [o.service for o in outcomes if o.needs_person]
    if blocked:
        print(f"\n{len(blocked)} of {len(outcomes)} services need a person: {', '.join(blocked)}", file=sys.stderr)
        return 1
    return 0
