"""Remove the files of the options not chosen, lock the dependencies if the tool is here, print next steps.

Standard library only. Nothing here may fail the generation: cookiecutter deletes the whole project when a
post-gen hook exits non-zero, so a lock that cannot be made (tool missing, index unreachable) is reported with
the command to run later, and the service is still written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ANSWERS = json.loads(
    r"""{{ {
        "service_name": cookiecutter.service_name,
        "dependency_manager": cookiecutter.dependency_manager,
        "use_discount_calculator": cookiecutter.use_discount_calculator,
        "discount_calculator_path": cookiecutter.discount_calculator_path,
        "include_kubernetes": cookiecutter.include_kubernetes,
        "include_ci_workflow": cookiecutter.include_ci_workflow,
        "lock_dependencies": cookiecutter._lock_dependencies,
    } | tojson }}"""
)

# Which files belong to which answer. Anything listed for an answer that was not given is removed.
FILES_BY_DEPENDENCY_MANAGER = {
    "poetry": ["poetry.toml"],
    "pip": ["requirements.in", "requirements-dev.in"],
    "uv": [],
}
FILES_BY_OPTION = {
    "include_kubernetes": ["deploy"],
    "include_ci_workflow": [".github"],
}
LOCK_FILES = {"poetry": ["poetry.lock"], "pip": ["requirements.txt", "requirements-dev.txt"], "uv": ["uv.lock"]}
LOCK_TOOL = {"poetry": "poetry", "pip": "pip-compile", "uv": "uv"}
LOCK_TIMEOUT_SECONDS = 300


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def remove_other_dependency_managers_files(chosen: str) -> None:
    for manager, files in FILES_BY_DEPENDENCY_MANAGER.items():
        if manager != chosen:
            for name in files:
                remove(Path(name))


def remove_options_not_chosen(answers: dict[str, object]) -> None:
    for option, files in FILES_BY_OPTION.items():
        if not answers[option]:
            for name in files:
                remove(Path(name))


def lock_dependencies(manager: str) -> str | None:
    """Run ``make lock``; return None on success, else why it did not happen."""
    missing = [tool for tool in ("make", LOCK_TOOL[manager]) if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH"
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
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
    if result.returncode != 0:
        last_lines = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return "`make lock` failed: " + " | ".join(last_lines)
    return None


def print_next_steps(answers: dict[str, object], lock_problem: str | None) -> None:
    manager = str(answers["dependency_manager"])
    print(f"\nCreated {answers['service_name']}/ ({manager}).")
    if lock_problem:
        print(f"Not locked yet: {lock_problem}.")
        lock_files = " and ".join(LOCK_FILES[manager])
        print(f"Run `make lock` in the service (it needs {LOCK_TOOL[manager]}) to write {lock_files}.")
    print("Next steps:")
    print(f"  cd {answers['service_name']}")
    if lock_problem:
        print("  make lock")
    for verb, purpose in (("install", "create .venv"), ("test", "run the tests"), ("serve", "run under gunicorn")):
        print(f"  make {verb:<8} # {purpose}")


def main() -> None:
    manager = str(ANSWERS["dependency_manager"])
    remove_other_dependency_managers_files(manager)
    remove_options_not_chosen(ANSWERS)
    lock_problem = lock_dependencies(manager) if ANSWERS["lock_dependencies"] else "locking was switched off"
    print_next_steps(ANSWERS, lock_problem)


if __name__ == "__main__":
    main()
