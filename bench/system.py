"""Commands run as a user runs them, and facts about the machine and the tools measured."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kit.processes import clean_environment as user_environment
from kit.processes import run as kit_run
from kit.template import TOOLS_BIN

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
COMMAND_TIMEOUT = 900


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and shows the end of its output."""


def log(message: str) -> None:
    print(message, flush=True)


def progress(who: str, when: str, what: str, figure: str) -> None:
    log(f"  [{who:<10}] {when:<8} {what:<48} {figure:>16}")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a user's shell (kit.processes.clean_environment), with the template's tools on PATH."""
    environment = user_environment()
    environment["PATH"] = f"{TOOLS_BIN}{os.pathsep}{environment.get('PATH', '')}"
    environment.update(extra or {})
    return environment


def run(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run ``command`` as a user runs it; return its output (stdout and stderr together); CommandFailed if it fails."""
    return kit_run(command, cwd, clean_environment(env), timeout=COMMAND_TIMEOUT, merged=True)


def timed(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    output = run(command, cwd, env)
    return time.perf_counter() - start, output


def first_line(command: Sequence[str]) -> str:
    """First line of a version command's output, or "unknown" (wrk -v exits 1 after printing its version)."""
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, check=False, env=clean_environment())
    except OSError:
        return "unknown"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    os_name = platform.system()
    os_release = Path("/etc/os-release")
    if os_release.exists():
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{os_name}, Linux {platform.release()}",
        "load_average_start": round(os.getloadavg()[0], 2),
    }


def tool_versions(python: str, docker: bool) -> dict[str, str]:
    versions = {
        "poetry": first_line([str(TOOLS_BIN / "poetry"), "--version"]),
        "uv": first_line([str(TOOLS_BIN / "uv"), "--version"]),
        "pip (service's Python)": first_line([python, "-m", "pip", "--version"]).split(" from ")[0],
        "cookiecutter": first_line([str(TOOLS_BIN / "cookiecutter"), "--version"]).split(" from ")[0],
        "CPython": first_line([python, "--version"]),
        "wrk": first_line(["wrk", "-v"]).split(" [")[0],
    }
    if docker:
        versions["Docker engine"] = first_line(["docker", "version", "--format", "{{.Server.Version}}"])
    return versions


def installed_versions(venv_python: Path, cwd: Path) -> dict[str, str]:
    """Versions of the serving stack in a service's .venv."""
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({n: m.version(n) for n in ('flask', 'werkzeug', 'gunicorn')}))"
    )
    return dict(json.loads(run([str(venv_python), "-c", code], cwd)))


def docker_ready(base_image: str) -> str | None:
    """None when the Docker engine answers and the base image is here, else why not."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the Docker engine does not answer (scripts/docker-engine starts one)"
    if subprocess.run(["docker", "image", "inspect", base_image], capture_output=True, check=False).returncode != 0:
        return f"{base_image} is missing (scripts/docker-base-images provides it)"
    return None
