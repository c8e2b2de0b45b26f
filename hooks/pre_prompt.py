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
import time
from pathlib import Path

CONTEXT_FILE = Path("cookiecutter.json")
PROBE_TIMEOUT_SECONDS = 10


def start_probe(version: str) -> subprocess.Popen[bytes] | None:
    """Start ``python<version> -c ''`` if it is on PATH (a pyenv shim of a version not installed starts, then fails)."""
    executable = shutil.which(f"python{version}")
    if executable is None:
        return None
    try:
        return subprocess.Popen(
            [executable, "-c", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
    except OSError:
        return None


def finished_well(probe: subprocess.Popen[bytes] | None, deadline: float) -> bool:
    if probe is None:
        return False
    try:
        return probe.wait(timeout=max(deadline - time.monotonic(), 0)) == 0
    except subprocess.TimeoutExpired:
        probe.kill()
        probe.wait()
        return False


def newest_here(offered: list[str]) -> str | None:
    """The first of ``offered`` (newest first, as cookiecutter.json lists them) that this machine runs.

    The probes run side by side: each shim of a version manager can take a tenth of a second to start.
    """
    probes = [start_probe(version) for version in offered]
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    runs = [finished_well(probe, deadline) for probe in probes]
    return next((version for version, ran in zip(offered, runs, strict=True) if ran), None)


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


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a default that cannot be improved is still a default
        print(f"Note: python_version keeps its default ({error.__class__.__name__}: {error}).")
