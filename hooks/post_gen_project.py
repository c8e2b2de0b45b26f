"""Remove the files of the options not chosen, record the template, lock if the tool is here, print next steps.

Standard library only. Nothing here may fail the generation: cookiecutter deletes the whole project when a
post-gen hook exits non-zero, so a lock that cannot be made (tool missing, index unreachable) is reported with
the command to run later, and the service is still written.

Three callers run this hook: plain ``cookiecutter`` (this hook writes ``.cruft.json``), ``cruft create`` (the
context has ``_commit``; cruft writes ``.cruft.json`` itself) and the two renders of ``make update``, which
export ``TEMPLATE_UPDATE=1``: those renders are compared file by file, so they neither lock (no network, and a
lock is never merged as text) nor write ``.cruft.json`` (cruft keeps the service's own).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

ANSWERS = json.loads(
    r"""{{ {
        "service_name": cookiecutter.service_name,
        "dependency_manager": cookiecutter.dependency_manager,
        "python_version": cookiecutter.python_version,
        "lock_dependencies": cookiecutter._lock_dependencies,
    } | tojson }}"""
)
# Every answer, and what cookiecutter adds: _template (as the user typed it), _repo_dir, _output_dir, _checkout
# under plain cookiecutter; _template and _commit under cruft.
CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")
# Exported by the service's `make update`; cruft runs this hook in that environment.
UPDATE_RENDER = os.environ.get("TEMPLATE_UPDATE") == "1"
# A template given as a URL, an scp-like git address or an abbreviation (gh:, gl:, bb:), not a local path.
REMOTE_TEMPLATE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|[\w.-]+@[\w.-]+:|[a-z]{2,3}:[^/\\]")
# The lock files each dependency manager writes (cookiecutter.json's __lock_files).
LOCK_FILES = json.loads(r"""{{ cookiecutter.__lock_files | tojson }}""")

# Which files belong to which answer (cookiecutter.json's __files): each path, rendered, with the values of its
# answer that keep it. The tests read the same table.
OPTIONAL_FILES = json.loads(r"""{{ cookiecutter.__files | tojson }}""")
# What `make lock` needs on PATH besides make, each need met by any of its alternatives ("a|b"). Poetry resolves for
# the interpreter it finds, so it needs the service's own Python; a pip service's requirements are compiled by uv,
# from PATH or installed into .venv with the service's Python; uv finds an interpreter or downloads one.
LOCK_NEEDS = {"poetry": ["poetry", "{python}"], "pip": ["uv|{python}"], "uv": ["uv"]}
# What `make lock` runs, as the hook announces it.
LOCKER = {"poetry": "poetry lock", "pip": "uv pip compile", "uv": "uv lock"}
LOCK_TIMEOUT_SECONDS = 300


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def remove_files_the_answers_do_not_keep(context: dict[str, object]) -> None:
    for answer, files in OPTIONAL_FILES.items():
        for name, keeping in files.items():
            if context[answer] not in keeping:
                remove(Path(name))


def git(*args: str, cwd: Path) -> str | None:
    """Output of a git command, or None when git is missing or the command fails (e.g. not a repository)."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def local_template_directory(context: dict[str, object]) -> Path | None:
    """The template's directory on this machine, each candidate holding the template's cookiecutter.json.

    A local template is the path the user typed (``_template``), relative to where cookiecutter ran, which this
    hook (run in the new service) knows from the shell's PWD or the output directory. ``_repo_dir`` names the
    temporary copy cookiecutter renders from (the template has a pre_prompt hook) and removes afterwards: for a
    remote template that copy of cookiecutter's clone is all there is, and its git metadata names the remote.
    """
    typed = str(context.get("_template", ""))
    if typed and not REMOTE_TEMPLATE.match(typed):
        for base in (os.environ.get("PWD", ""), str(context.get("_output_dir", ""))):
            candidate = Path(base) / typed  # an absolute path stays itself
            if base and (candidate / "cookiecutter.json").is_file():
                return candidate.resolve()
    repo_dir = Path(str(context.get("_repo_dir", "")))
    return repo_dir if repo_dir.is_absolute() and repo_dir.is_dir() else None


def template_record(context: dict[str, object], service_dir: Path) -> dict[str, object]:
    """.cruft.json as ``cruft create`` writes it: where the template is, its commit, the answers.

    The source is kept as the user gave it, in a form ``make update`` can clone from the service directory: a
    URL stays a URL (an abbreviation such as gh:org/repo becomes the URL cookiecutter cloned), an absolute path
    stays absolute, and a relative path becomes relative to the service, so it resolves where updates run.
    """
    typed = str(context.get("_template", ""))
    template_dir = local_template_directory(context)
    commit = toplevel = None
    if template_dir is not None:
        commit = git("rev-parse", "HEAD", cwd=template_dir)
        toplevel = git("rev-parse", "--show-toplevel", cwd=template_dir)
    root = Path(toplevel) if toplevel else template_dir
    if REMOTE_TEMPLATE.match(typed) or template_dir is None or root is None:
        source = (git("remote", "get-url", "origin", cwd=template_dir) if template_dir else None) or typed
    elif Path(typed).is_absolute():
        source = str(root)
    else:
        source = os.path.relpath(root, service_dir)
    directory = None
    if template_dir is not None and root is not None and template_dir.resolve() != root.resolve():
        directory = template_dir.resolve().relative_to(root.resolve()).as_posix()
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    answers.update({"_template": source, "_commit": commit})
    return {
        "template": source,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": directory,
    }


def write_template_record(context: dict[str, object]) -> None:
    """Plain cookiecutter leaves no record of the template; cruft create writes its own after this hook."""
    if "_commit" in context:
        return
    record = template_record(context, Path.cwd())
    text = json.dumps(record, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
    Path(".cruft.json").write_text(text, encoding="utf-8")
    if record["commit"] is None:
        print("Note: the template is not a git repository here, so .cruft.json records no commit; `make update`")
        print("needs one (generate from a git clone of the template, or with `cruft create`).")


def lock_needs(answers: dict[str, object]) -> list[str]:
    python = f"python{answers['python_version']}"
    return [command.format(python=python) for command in LOCK_NEEDS[str(answers["dependency_manager"])]]


def lock_dependencies(answers: dict[str, object]) -> str | None:
    """Run ``make lock``, saying so before and how long it took after; return None on success, else why not.

    A virtual environment made on the way (Poetry makes .venv with the first Python it finds; a pip service without
    uv on PATH installs uv into .venv) is removed: `make install` makes the service's, with its dependencies.
    """
    missing = [need for need in ("make", *lock_needs(answers)) if not any(map(shutil.which, need.split("|")))]
    if missing:
        return f"{' and '.join(need.replace('|', ' or ') for need in missing)} not found on PATH"
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    manager = str(answers["dependency_manager"])
    had_venv = Path(".venv").exists()
    print(f"Locking with {LOCKER[manager]} for Python {answers['python_version']} ...", flush=True)
    started = time.monotonic()
    try:
        result = subprocess.run(
            ["make", "lock"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=LOCK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`make lock` did not finish within {LOCK_TIMEOUT_SECONDS} s (is the package index reachable?)"
    finally:
        if not had_venv:
            shutil.rmtree(".venv", ignore_errors=True)
    if result.returncode != 0:
        last_lines = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return "`make lock` failed: " + " | ".join(last_lines)
    print(f"Locked in {time.monotonic() - started:.1f} s: {' and '.join(LOCK_FILES[manager])}.", flush=True)
    return None


def print_next_steps(answers: dict[str, object], lock_problem: str | None) -> None:
    manager = str(answers["dependency_manager"])
    print(f"\nCreated {answers['service_name']}/ ({manager}, Python {answers['python_version']}).")
    if lock_problem:
        print(f"Not locked yet: {lock_problem}.")
        lock_files = " and ".join(LOCK_FILES[manager])
        needs = " and ".join(need.replace("|", " or ") for need in lock_needs(answers))
        print(f"Run `make lock` in the service (it needs {needs}) to write {lock_files}.")
        version = answers["python_version"]
        if f"python{version}" in lock_needs(answers) and shutil.which(f"python{version}") is None:
            print("The lock is resolved by the service's own Python: one made by another could pin what that one")
            print(f"needs instead. Install Python {version} (python{version} on PATH), then run `make lock`.")
    print("Next steps:")
    print(f"  cd {answers['service_name']}")
    if lock_problem:
        print("  make lock")
    for verb, purpose in (("install", "create .venv"), ("test", "run the tests"), ("serve", "run under gunicorn")):
        print(f"  make {verb:<8} # {purpose}")


def main() -> None:
    remove_files_the_answers_do_not_keep(CONTEXT)
    if UPDATE_RENDER:
        return
    write_template_record(CONTEXT)
    lock_problem = lock_dependencies(ANSWERS) if ANSWERS["lock_dependencies"] else "locking was switched off"
    print_next_steps(ANSWERS, lock_problem)


if __name__ == "__main__":
    main()
