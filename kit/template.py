"""The template itself, as the suite and the benchmark read it: an export of this checkout to bake from, and the
facts cookiecutter.json holds (the choices, the lock files, the tool pins, which files belong to which answer)."""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kit.processes import git

# This checkout of the template repository.
REPOSITORY_DIR = Path(__file__).resolve().parent.parent


def copy_working_tree(checkout: Path, destination: Path) -> None:
    """The files of ``checkout``'s working tree that git does not ignore, edits not committed yet included, copied
    into ``destination`` (without ``.git``)."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=checkout)
    for name in filter(None, listed.split("\0")):
        source = checkout / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def export_template(checkout: Path) -> Path:
    """The template as a clone of it holds it, made once per process in a temporary directory: the working tree's
    files that git does not ignore (edits not committed yet included) and ``.git``.

    What the suite and the benchmark bake from. Cookiecutter copies the whole template directory for every
    generation (the template has a pre_prompt hook): this checkout's .venv, hundreds of MB, would be copied with it.
    """
    export = Path(tempfile.mkdtemp(prefix="template-")) / checkout.name
    copy_working_tree(checkout, export)
    if (checkout / ".git").is_dir():
        shutil.copytree(checkout / ".git", export / ".git", symlinks=True)
        # One pack for hundreds of loose objects: cookiecutter copies the whole template for every bake, file by file.
        git("repack", "-a", "-d", "-q", cwd=export)
    else:
        # A git worktree: its .git is a file that points into the main checkout's repository, which the suite must
        # not write to. A clone of it stands in: the same branch, commit and history, its index reset to HEAD.
        clone = export.parent / "clone"
        git("clone", "--quiet", "--no-checkout", str(checkout), str(clone), cwd=export.parent)
        (clone / ".git").rename(export / ".git")
        clone.rmdir()
        git("reset", "--quiet", cwd=export)
    atexit.register(shutil.rmtree, export.parent, ignore_errors=True)
    return export


TEMPLATE_DIR = export_template(REPOSITORY_DIR)
SHARED_PACKAGE_DIR = TEMPLATE_DIR / "libs" / "discount_calculator"
# The service template: its directory name renders to service_name, or to a placeholder for a path-like name.
(PROJECT_TEMPLATE,) = TEMPLATE_DIR.glob("{{cookiecutter.*}}")
# cookiecutter, poetry, uv, cruft, ruff and the validators of the test environment.
TOOLS_BIN = Path(sys.executable).parent

# cookiecutter.json as written: the choices (lists, default first) and the private facts (``__`` keys).
TEMPLATE_CONTEXT: dict[str, Any] = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
MANAGERS: tuple[str, ...] = tuple(TEMPLATE_CONTEXT["dependency_manager"])
PYTHONS: tuple[str, ...] = tuple(TEMPLATE_CONTEXT["python_version"])
LICENSES: tuple[str, ...] = tuple(TEMPLATE_CONTEXT["license"])
DEFAULT_PYTHON = PYTHONS[0]
# The lock files each dependency manager writes, as `make lock` leaves them.
LOCK_FILES: dict[str, list[str]] = TEMPLATE_CONTEXT["__lock_files"]
TOOL_PINS: dict[str, str] = TEMPLATE_CONTEXT["__tool_pins"]
# Which files belong to which answer, as the post-gen hook removes them: each path as the service template names it
# (``src/{{cookiecutter.service_name}}/core/db.py``), with the values of its answer that keep it.
OPTIONAL_FILES: dict[str, dict[str, list[Any]]] = TEMPLATE_CONTEXT["__files"]


def kept(name: str, answers: Mapping[str, Any]) -> bool:
    """Whether the file or directory ``name`` of the service template (a path relative to it) stays in a service
    baked with ``answers``: every answer it belongs to, itself or through a directory above it, keeps it. A file of
    a derived variable (``__has_upstreams``) needs the rendered context (``BakedService.context``) as ``answers``."""
    return all(
        answers[answer] in keeping
        for answer, files in OPTIONAL_FILES.items()
        for path, keeping in files.items()
        if name == path or name.startswith(f"{path}/")
    )
