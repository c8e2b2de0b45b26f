"""Make the newest offered Python that this machine has the default answer to python_version.

Cookiecutter runs this before the first question, in its temporary copy of the template, and reads that copy's
cookiecutter.json afterwards. The offered versions stay the same; the default (the first) becomes the newest one
whose ``python3.X`` on PATH runs, so the service locks, installs and tests where it was generated. With none of
them here, the default stays the newest offered. An explicit answer (``python_version=3.15``) is never changed.

Standard library only. Nothing here may stop the generation: whatever goes wrong leaves the defaults as they are.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CONTEXT_FILE = Path("cookiecutter.json")
PROBE_TIMEOUT_SECONDS = 10


def runs(version: str) -> bool:
    """Whether ``python<version>`` is on PATH and starts (a pyenv shim of a version not installed fails)."""
    executable = shutil.which(f"python{version}")
    if executable is None:
        return False
    try:
        probe = subprocess.run([executable, "-c", ""], capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def newest_here(offered: list[str]) -> str | None:
    """The first of ``offered`` (newest first, as cookiecutter.json lists them) that this machine runs."""
    return next((version for version in offered if runs(version)), None)


def make_default(context: dict[str, object], version: str) -> None:
    offered = context["python_version"]
    assert isinstance(offered, list)
    context["python_version"] = [version, *(other for other in offered if other != version)]
    prompts = context.get("__prompts__", {})
    labels = prompts.get("python_version") if isinstance(prompts, dict) else None
    if isinstance(labels, dict):
        labels[version] = f"{version} (the newest offered Python on this machine)"


def main() -> None:
    context = json.loads(CONTEXT_FILE.read_text(encoding="utf-8"))
    offered = [str(version) for version in context["python_version"]]
    version = newest_here(offered)
    if version is None or version == offered[0]:
        return
    make_default(context, version)
    CONTEXT_FILE.write_text(json.dumps(context, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    missing = ", ".join(offered[: offered.index(version)])
    print(f"python_version defaults to {version}, the newest offered Python on this machine ({missing}: not found).")


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a default that cannot be improved is still a default
        print(f"Note: python_version keeps its default ({error.__class__.__name__}: {error}).")
