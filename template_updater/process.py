"""Running git and other commands for the updater, and the one error it reports."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path


class UpdateError(Exception):
    """Why the update cannot go on; the message is the whole line shown to the user."""


def run(
    command: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def git(*args: str, cwd: Path | None = None) -> str:
    result = run(["git", *args], cwd=cwd)
    if result.returncode != 0:
        raise UpdateError(f"`git {' '.join(args)}` failed: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout.strip()


def short(commit: str) -> str:
    return commit[:12]
