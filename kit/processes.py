"""Commands run as a user runs them: a clean environment, interpreters of each offered Python, a command that
must succeed (``run``), git as a user with a name runs it (``git``), a process group stopped by its id."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# Settings of the machine running the suite that a generated service's commands must not inherit. The make
# variables come from the template's own `make test`: a service's make would print "make[1]: Entering directory"
# into its logs and take the suite's command-line variables (PYTEST_ARGS=...) as its own.
HIDDEN_VARIABLES = (
    "VIRTUAL_ENV", "PYTHONPATH", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL",
    "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES",
)  # fmt: skip
# Who commits in the repositories the suite makes: git refuses to commit without a name and an e-mail address, which
# a fresh machine (or CI's) has not configured.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Team",
    "GIT_AUTHOR_EMAIL": "team@example.com",
    "GIT_COMMITTER_NAME": "Team",
    "GIT_COMMITTER_EMAIL": "team@example.com",
}


class CommandFailed(AssertionError):
    """A command of a generated service (or of the kit) failed; the message holds the end of its output."""


def run(
    command: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 600,
    merged: bool = False,
) -> str:
    """Run ``command`` in ``cwd`` with ``env`` (the whole environment; see ``clean_environment``) and return its
    standard output, or with ``merged`` its output and errors together, as a terminal shows them. A command that
    fails raises CommandFailed with the end of both."""
    result = subprocess.run(
        list(command),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        where = f" in {cwd}" if cwd is not None else ""
        raise CommandFailed(
            f"`{' '.join(command)}` failed{where} ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{(result.stderr or '')[-4000:]}".rstrip()
        )
    return result.stdout


def git(*args: str, cwd: Path) -> str:
    """``git *args`` in ``cwd``, in a user's environment with GIT_IDENTITY; its output without the last newline.
    A failure raises CommandFailed with git's own words."""
    return run(["git", *args], cwd, clean_environment(GIT_IDENTITY)).rstrip("\n")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell: no outer virtualenv, no pip configuration of this machine."""
    environment = {key: value for key, value in os.environ.items() if key not in HIDDEN_VARIABLES}
    # pip configuration files of this machine (extra indexes, local wheel directories) are not the user's.
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment.update(extra or {})
    return environment


def find_python(version: str) -> str | None:
    """An interpreter of ``version``: ``pythonX.Y`` on PATH if it runs, else a pyenv installation, else None."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def real_interpreter(version: str) -> str | None:
    """The executable of an interpreter of ``version`` itself, not a version manager's shim, or None."""
    found = find_python(version)
    if found is None:
        return None
    command = [found, "-c", "import sys; print(sys.executable)"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def link_interpreters(directory: Path, versions: Sequence[str]) -> Path:
    """``directory`` holding ``python3.X`` for each of ``versions`` this machine has, linked to the interpreter itself:
    first on PATH, it is what the hooks and the services' Makefiles find, without a shim (pyenv's take a tenth of a
    second each, and fail for a version that is installed but not selected)."""
    directory.mkdir(parents=True, exist_ok=True)
    for version in versions:
        executable = real_interpreter(version)
        if executable is not None:
            (directory / f"python{version}").symlink_to(executable)
    return directory


@contextmanager
def process_group(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], output: IO[bytes] | int
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in a process group of its own (make and gunicorn stop together); stop that group by PID."""
    process = subprocess.Popen(
        list(command), cwd=cwd, env=dict(env), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def python_executable(version: str) -> str:
    """An interpreter of ``version`` (see find_python); raise CommandFailed, naming what is missing, if none runs."""
    found = find_python(version)
    if found is None:
        raise CommandFailed(f"no working python{version} here; install Python {version} (on PATH, or with pyenv)")
    return found
