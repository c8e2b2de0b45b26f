"""Environment and process helpers shared by the test suite (tests/conftest.py) and the benchmark (bench/).

Plain Python, no pytest: the benchmark imports it too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# cookiecutter.json as written: the choices (lists, default first) and the private facts (``__`` keys).
TEMPLATE_CONTEXT: dict[str, Any] = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
MANAGERS: tuple[str, ...] = tuple(TEMPLATE_CONTEXT["dependency_manager"])
# The lock files each dependency manager writes, as `make lock` leaves them.
LOCK_FILES: dict[str, list[str]] = TEMPLATE_CONTEXT["__lock_files"]

# Settings of the machine running the suite that a generated service's commands must not inherit. The make
# variables come from the template's own `make test`: a service's make would print "make[1]: Entering directory"
# into its logs and take the suite's command-line variables (PYTEST_ARGS=...) as its own.
HIDDEN_VARIABLES = (
    "VIRTUAL_ENV", "PYTHONPATH", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL",
    "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES",
)  # fmt: skip


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    """Wait until ``url`` gets any HTTP answer; raise RuntimeError if the server (when given) exits or stays silent.

    A server may accept connections before it can answer (a reloader, a loading app, a busy machine), so a try
    that times out is retried like a refused one, each try waiting twice as long as the last, within the budget.
    """
    deadline = time.monotonic() + timeout
    per_try = 1.0
    while (remaining := deadline - time.monotonic()) > 0:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=min(per_try, remaining)):
                return
        except urllib.error.HTTPError:
            return  # an error status is still an answer
        except OSError as error:  # refused, reset, timed out; urllib wraps some of these in a URLError
            if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
                per_try *= 2
            else:
                time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


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


def request_counts(base_url: str) -> dict[tuple[str, str, str], float]:
    """A service's request counts by (method, route, status), read from its /metrics as Prometheus reads them."""
    from prometheus_client.parser import text_string_to_metric_families  # the test group's, not the benchmark's

    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_server_request_duration_seconds_count":
                labels = sample.labels
                key = (labels["http_request_method"], labels["http_route"], labels["http_response_status_code"])
                counts[key] = sample.value
    return counts


# Bills of materials (`make sbom`) against the lock they describe.


def normalized(name: str) -> str:
    """A distribution name as package indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_runtime_packages(service: Path, manager: str, service_name: str) -> dict[str, tuple[str, set[str]]]:
    """{name: (version, sha256 hashes)} of what the lock pins for the runtime, read from the lock file itself."""
    if manager == "pip":
        text = (service / "requirements.txt").read_text().replace("\\\n", " ")
        pins = re.finditer(r"^([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:\w+)*)", text, flags=re.MULTILINE)
        return {normalized(m[1]): (m[2], set(re.findall(r"sha256:(\w+)", m[3]))) for m in pins}
    lock = tomllib.loads((service / f"{manager}.lock").read_text())
    packages = {normalized(package["name"]): package for package in lock["package"]}

    def hashes(package: dict[str, Any]) -> set[str]:
        files = package.get("files", []) + package.get("wheels", []) + [package.get("sdist", {})]
        return {file["hash"].removeprefix("sha256:") for file in files if "hash" in file}

    if manager == "poetry":
        runtime = {name for name, package in packages.items() if "main" in package["groups"]}
    else:  # uv.lock holds the dev tools too: walk the service's own dependencies
        todo = [normalized(d["name"]) for d in packages[normalized(service_name)].get("dependencies", [])]
        runtime = set()
        while todo:
            name = todo.pop()
            if name not in runtime:
                runtime.add(name)
                todo += [normalized(d["name"]) for d in packages[name].get("dependencies", [])]
    return {name: (packages[name]["version"], hashes(packages[name])) for name in runtime}


def bom_packages(bom: dict[str, Any]) -> dict[str, tuple[str, set[str]]]:
    """{name: (version, sha256 hashes)} of a CycloneDX JSON document's components."""

    def hashes(component: dict[str, Any]) -> set[str]:
        references = component.get("externalReferences", [])
        found = component.get("hashes", []) + [h for reference in references for h in reference.get("hashes", [])]
        return {h["content"] for h in found if h["alg"] == "SHA-256"}

    return {normalized(c["name"]): (c["version"], hashes(c)) for c in bom["components"]}
