"""The test kit: what the suite (tests/) and the benchmark (bench/) share, in plain Python (no pytest).

- Facts read from cookiecutter.json: the choices (``MANAGERS``, ``PYTHONS``, ``LICENSES``), the lock files and tool
  pins, and ``answer_combinations()``, the pairwise set of answers the rendering layer bakes.
- Baking: ``bake_with_cookies()`` generates a service through pytest-cookies, ``bake()`` with cookiecutter's API into
  a directory of the caller's choosing; ``BakedService`` runs the service's own commands.
- Running: ``serving()`` serves a service under ``make serve``; ``http()`` makes one real request;
  ``wait_until_answers()``, ``free_port()`` and ``process_group()`` are the mechanics under them.
- Interpreters and environments: ``python_executable()``, ``clean_environment()``, ``TOOLS_BIN``.
- The example system: ``build_example_monorepo()``, ``MIRRORED_REQUIREMENTS`` for the private index.

A failing command raises ``CommandFailed`` (an AssertionError, so pytest reports it as a test failure).
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import IO, Any

# This checkout of the template repository.
REPOSITORY_DIR = Path(__file__).resolve().parent.parent


def export_template(checkout: Path) -> Path:
    """The template as a clone of it holds it, made once per process in a temporary directory: the working tree's
    files that git does not ignore (edits not committed yet included) and ``.git``.

    What the suite and the benchmark bake from. Cookiecutter copies the whole template directory for every
    generation (the template has a pre_prompt hook): this checkout's .venv, hundreds of MB, would be copied with it.
    """
    export = Path(tempfile.mkdtemp(prefix="template-")) / checkout.name
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=checkout,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = checkout / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (export / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, export / name)
    if (checkout / ".git").is_dir():
        shutil.copytree(checkout / ".git", export / ".git", symlinks=True)
    else:
        # A git worktree: its .git is a file that points into the main checkout's repository, which the suite must
        # not write to. A clone of it stands in: the same branch, commit and history, its index reset to HEAD.
        clone = export.parent / "clone"
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(checkout), str(clone)], check=True)
        (clone / ".git").rename(export / ".git")
        clone.rmdir()
        subprocess.run(["git", "reset", "--quiet"], cwd=export, check=True)
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

# Request body limit of served services; small, so a refused body fits in socket buffers and the 413 is read.
MAX_CONTENT_LENGTH = 4096
# Settings of the machine running the suite that a generated service's commands must not inherit. The make
# variables come from the template's own `make test`: a service's make would print "make[1]: Entering directory"
# into its logs and take the suite's command-line variables (PYTEST_ARGS=...) as its own.
HIDDEN_VARIABLES = (
    "VIRTUAL_ENV", "PYTHONPATH", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL",
    "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES",
)  # fmt: skip


class CommandFailed(AssertionError):
    """A command of a generated service (or of the kit) failed; the message holds the end of its output."""


# --- Answers ---------------------------------------------------------------------------------------------------

# Text answers change the output too: each takes its default and this other value in the pairwise set. The path
# and the index are the two ways to the shared package; the others change names, routes and metadata.
OTHER_TEXT_ANSWERS: dict[str, str] = {
    "service_name": "user_manager",
    "resource_name": "line_item",
    "description": 'Keeps "orders" & returns',
    "author_name": "Zoë O'Brien",
    "author_email": "shop-team@example.org",
    "port": "9090",
    "discount_calculator_path": "../../libs/discount_calculator",
    "package_index_url": "http://127.0.0.1:8080/simple/",
}


def answer_values() -> dict[str, list[Any]]:
    """Every prompted answer with the values the combinations take: each choice, both booleans, and for text
    its default and one other value. Read from cookiecutter.json, so a new choice is covered without an edit."""
    values: dict[str, list[Any]] = {}
    for key, default in TEMPLATE_CONTEXT.items():
        if key.startswith("_"):
            continue
        if isinstance(default, list):
            values[key] = list(default)
        elif isinstance(default, bool):
            values[key] = [default, not default]
        else:
            values[key] = [default, OTHER_TEXT_ANSWERS[key]]
    return values


# The answers refusal() reads.
REFUSAL_READS = ("use_discount_calculator", "discount_calculator_path", "package_index_url")


def refusal(answers: Mapping[str, Any]) -> str | None:
    """The start of the ERROR line the pre-gen hook answers these (otherwise valid) answers with, or None.

    The one combination of valid answers the template cannot render: the shared package with neither a path in
    the monorepo nor a private index (PyPI does not host it).
    """
    use, path, index = (answers[key] for key in REFUSAL_READS)
    if use and not path and not index:
        return "ERROR: discount_calculator_path is blank and package_index_url is PyPI"
    return None


def answer_combinations() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All-pairs combinations of ``answer_values()``: (those that render, those the hook must refuse).

    Every pair of values of any two answers appears in at least one combination that renders (allpairspy, with
    ``refusal()`` as its filter). The refused combinations are derived from ``refusal()`` too: for each setting of
    the answers it reads that it refuses, an all-pairs set of the other answers. Each combination holds the
    answers that differ from the defaults (the rest come from cookiecutter.json), so ``resource_name`` keeps its
    default as cookiecutter derives it.
    """
    from allpairspy import AllPairs  # imported here: the benchmark imports this module without it

    values = answer_values()
    keys = list(values)
    defaults = {key: options[0] for key, options in values.items()}
    decided_after = max(keys.index(key) for key in REFUSAL_READS)

    def renders(row: list[Any]) -> bool:
        # allpairspy grows each row one answer at a time; judge it once the answers refusal() reads are in.
        if len(row) <= decided_after:
            return True
        return refusal(dict(zip(keys, row, strict=False))) is None

    def given(answers: Mapping[str, Any]) -> dict[str, Any]:
        return {key: answers[key] for key in keys if answers[key] != defaults[key]}

    rendered = [
        given(dict(zip(keys, row, strict=True))) for row in AllPairs(list(values.values()), filter_func=renders)
    ]
    others = [key for key in keys if key not in REFUSAL_READS]
    refused = []
    for setting in itertools.product(*(values[key] for key in REFUSAL_READS)):
        fixed = dict(zip(REFUSAL_READS, setting, strict=True))
        if refusal(fixed) is not None:
            for row in AllPairs([values[key] for key in others]):
                refused.append(given({**dict(zip(others, row, strict=True)), **fixed}))
    return rendered, refused


def answers_with_defaults(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The full set of answers a bake with ``answers`` uses: cookiecutter.json's defaults, then ``answers``."""
    merged = {key: value[0] if isinstance(value, list) else value for key, value in TEMPLATE_CONTEXT.items()}
    merged = {key: value for key, value in merged.items() if not key.startswith("_")}
    merged.update(answers)
    if "resource_name" not in answers:
        merged["resource_name"] = str(merged["service_name"]).split("_")[0]
    return merged


def case_id(answers: Mapping[str, Any]) -> str:
    """A test id that reads as the answers given: ``dependency_manager=pip,python_version=3.11``, or ``defaults``."""
    return ",".join(f"{key}={value}" for key, value in answers.items()) or "defaults"


def install_matrix() -> list[dict[str, str]]:
    """The services the install layer locks, installs and serves on this machine: the pairs of ``PYTHON_PROOFS``
    whose Python it has (every manager appears; test_pythons.py runs the other pairs in containers)."""
    return [{"dependency_manager": manager, "python_version": version} for manager, version in proofs_on_this_machine()]


def schema_errors(builtin_schema: str, document: Path) -> list[str]:
    """Where a YAML or JSON file breaks one of check-jsonschema's vendored schemas (``"github-workflows"``,
    ``"dependabot"``, ``"compose-spec"``): the schemas its ``--builtin-schema vendor.<name>`` checks against, applied
    in this process (its command takes 3 s to start, each time)."""
    import jsonschema
    from check_jsonschema.builtin_schemas import vendor
    from ruamel.yaml import YAML  # YAML 1.2, as check-jsonschema reads: `on:` stays a key, not True

    schema = json.loads(resources.files(vendor).joinpath(f"{builtin_schema}.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    instance = YAML(typ="safe", pure=True).load(document.read_text(encoding="utf-8"))
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(instance)]


# --- Environment and processes ---------------------------------------------------------------------------------


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


def python_executable(version: str) -> str:
    """An interpreter of ``version`` (see find_python); raise CommandFailed, naming what is missing, if none runs."""
    found = find_python(version)
    if found is None:
        raise CommandFailed(f"no working python{version} here; the suite needs Python {', '.join(sorted(PYTHONS))}")
    return found


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def postgresql_binaries() -> Path | None:
    """The newest of Debian's PostgreSQL server installations (``/usr/lib/postgresql/<major>/bin``), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL server on 127.0.0.1, in a directory of its own, for the services' data and tests.

    initdb and the server refuse to run as root, so as root they run as the ``postgres`` user, which owns the
    directory. Connections from 127.0.0.1 are trusted: the server is the suite's alone, for as long as it runs.
    """

    USER = "postgres"

    def __init__(self) -> None:
        binaries = postgresql_binaries()
        if binaries is None:
            raise CommandFailed("PostgreSQL's server is not installed (Debian: apt-get install postgresql)")
        self.binaries = binaries
        # Directly under the temporary directory: the postgres user cannot enter pytest's (its owner's alone).
        self.directory = Path(tempfile.mkdtemp(prefix="template-tests-postgres-"))
        self.port = free_port()
        self._names = itertools.count(1)

    def _run(self, *command: str) -> None:
        as_user = ["runuser", "-u", self.USER, "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*as_user, *command], capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            raise CommandFailed(f"`{' '.join(command)}` failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, self.USER, self.USER)
        data = self.directory / "data"
        self._run(str(self.binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", self.USER, "--no-sync")
        self.restart()

    def _pg_ctl(self, *arguments: str) -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.directory / "data"), "-w", *arguments)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``fast`` ends every connection at once, as a restart or a failover does."""
        self._pg_ctl("-m", mode, "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and remove its directory."""
        if (self.directory / "data" / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> None:
        """Start the server (again), on the same port and data."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", f"{options} -c max_connections=300", "-l", str(self.directory / "log"), "start")

    def create_database(self, prefix: str = "db") -> str:
        """A new, empty database; its URL, as a managed database hands it out."""
        name = f"{prefix}_{next(self._names)}"
        self._run(str(self.binaries / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, name)
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{name}"


def database_environment(
    answers: Mapping[str, Any], postgres: Callable[[], PostgresServer], data: Path
) -> dict[str, str]:
    """What a service with a database needs in its environment in the suite: the database it serves from and, for a
    PostgreSQL one, the database its own tests use (``postgres`` gives the suite's server, started on first use)."""
    prefix = str(answers["service_name"]).upper()
    database = answers.get("database", "none")
    if database == "postgresql":
        server = postgres()
        return {
            f"{prefix}_DATABASE_URL": server.create_database("data"),
            f"{prefix}_TEST_DATABASE_URL": server.create_database("tests"),
        }
    if database == "sqlite":
        data.mkdir(parents=True, exist_ok=True)
        return {f"{prefix}_DATABASE_URL": f"sqlite:///{data / 'data.sqlite3'}"}
    return {}


# --- Baked services ------------------------------------------------------------------------------------------


@dataclass
class BakedService:
    """A service generated from the template, with helpers to run its own commands inside it."""

    path: Path
    answers: dict[str, Any]
    installed: bool = field(default=False)
    # Variables every command of the service gets: for a service with a database, where its data and its tests go.
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.answers["service_name"])

    @property
    def env_prefix(self) -> str:
        return self.name.upper()

    def run(self, *command: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
        result = subprocess.run(
            command,
            cwd=self.path,
            env=clean_environment({**self.environment, **(env or {})}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise CommandFailed(
                f"`{' '.join(command)}` failed in {self.path.name} ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def make(self, *targets: str, **variables: str) -> str:
        return self.run("make", *targets, *(f"{key}={value}" for key, value in variables.items()))

    def install(self) -> None:
        """``make install`` once per baked service, with the interpreter of its Python version."""
        if not self.installed:
            self.make("install", PYTHON=python_executable(str(self.answers["python_version"])))
            self.installed = True

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if ".venv" not in p.parts and p.is_file())


# What the ``baked`` and ``example_monorepo`` fixtures (conftest.py) give a test.
Baker = Callable[..., "BakedService"]
ExampleMonorepo = Callable[[str], dict[str, "BakedService"]]
PostgresGetter = Callable[[], "PostgresServer"]


def explicit_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """``answers`` with ``python_version`` given: the template's default depends on the machine's Pythons (its
    pre_prompt hook), so the suite names the version it bakes, the newest offered unless a test says otherwise."""
    return {"python_version": DEFAULT_PYTHON, **answers}


def bake(output_dir: Path, **answers: Any) -> BakedService:
    """Generate a service into ``output_dir`` with cookiecutter's Python API, as ``cookiecutter -o`` does (the
    example monorepo and the benchmark need the directory; the suite's other bakes go through pytest-cookies).
    The post-gen hook locks it unless ``_lock_dependencies=False``. The replay file goes to a temporary directory."""
    from cookiecutter.main import cookiecutter

    answers = explicit_answers(answers)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "config.yaml"
        config.write_text(f"cookiecutters_dir: {home}/templates\nreplay_dir: {home}/replay\n")
        project = cookiecutter(
            str(TEMPLATE_DIR), no_input=True, extra_context=answers, output_dir=str(output_dir), config_file=str(config)
        )
    return BakedService(path=Path(project), answers=answers_with_defaults(answers))


def bake_with_cookies(cookies: Any, **answers: Any) -> BakedService:
    """Generate a service with pytest-cookies (its ``cookies`` or ``cookies_session`` fixture), as a team testing
    the template does; a bake that failed raises what it failed with (FailedHookException for a refusal)."""
    answers = explicit_answers(answers)
    result = cookies.bake(extra_context=answers, template=str(TEMPLATE_DIR))
    if result.exception is not None:
        raise result.exception
    return BakedService(path=result.project_path, answers=answers_with_defaults(answers))


# --- Serving and HTTP ----------------------------------------------------------------------------------------


@contextmanager
def serving(
    service: BakedService, command: list[str] | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Run ``make serve`` (gunicorn) on a free 127.0.0.1 port, its database migrated first; yield the base URL; stop
    what was started.

    ``settings``: more of the service's variables, without their prefix (``{"ACCESS_LOG": "true"}``).
    The server's output is in ``serve.log`` in the service's directory.
    """
    port = free_port()
    prefix = service.env_prefix
    if service.answers.get("database", "none") != "none":
        service.make("migrate")
    env = clean_environment(
        {
            **service.environment,
            f"{prefix}_HOST": "127.0.0.1",
            f"{prefix}_PORT": str(port),
            f"{prefix}_WORKERS": "2",
            f"{prefix}_MAX_CONTENT_LENGTH": str(MAX_CONTENT_LENGTH),
            **{f"{prefix}_{name}": value for name, value in (settings or {}).items()},
        }
    )
    with (
        (service.path / "serve.log").open("wb") as log,
        process_group(command or ["make", "serve"], service.path, env, log) as process,
    ):
        base_url = f"http://127.0.0.1:{port}"
        wait_until_answers(base_url + "/healthz", process)
        yield base_url


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    body: bytes | list[bytes] | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> HttpResponse:
    """One real HTTP request, with ``headers`` besides the content type; 4xx and 5xx come back as responses, not
    exceptions. A body given as a list of parts is sent chunked (``Transfer-Encoding: chunked``, no
    ``Content-Length``)."""
    sent = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
    if isinstance(body, list):
        return send_chunked(method, url, body, sent)
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


@contextmanager
def http_server_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """``handler`` served on a free 127.0.0.1 port from a thread of this process; shut down on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def send_chunked(method: str, url: str, parts: list[bytes], headers: Mapping[str, str]) -> HttpResponse:
    """The parts as chunks, encoded here and written at once: a server that refuses the body before its end then
    closes a connection the client has finished writing to (urllib writes chunk by chunk, and would meet a reset)."""
    address = urllib.parse.urlsplit(url)
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    connection = HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(
            method, address.path, encoded, {**headers, "Transfer-Encoding": "chunked"}
        )  # sent as given: the headers name an encoding
        response = connection.getresponse()
        return HttpResponse(response.status, dict(response.headers), response.read())
    finally:
        connection.close()


@dataclass
class SlowClientCounts:
    """What the slow clients saw: connections opened, closed by the server, and open at most at once."""

    opened: int = 0
    closed_by_server: int = 0
    open_now: int = 0
    most_open: int = 0


@contextmanager
def slow_clients(base_url: str, count: int, part: str, every: float = 1.0) -> Iterator[SlowClientCounts]:
    """``count`` connections to ``base_url`` (127.0.0.1) for as long as the block runs, each sending a POST one byte
    every ``every`` seconds: its header section (``part="head"``), or after a complete head, its body
    (``part="body"``). A connection the server closes is opened again, as a slowloris attacker (or a phone on a bad
    network, retrying) does. The block gets the counts, updated as it runs."""
    address = urllib.parse.urlsplit(base_url)
    host, port = address.hostname or "", address.port or 80
    assert host in ("127.0.0.1", "::1", "localhost"), f"slow clients target loopback only, not {host}"
    body = b'{"name": "slow"}'
    head = (
        f"POST /api/order HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    counts = SlowClientCounts()
    stop = threading.Event()

    async def one_connection() -> None:
        trickled, sent_at_once = (head, b"") if part == "head" else (body, head)
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(every)
                continue
            counts.opened += 1
            counts.open_now += 1
            counts.most_open = max(counts.most_open, counts.open_now)
            try:
                writer.write(sent_at_once)
                for index in range(len(trickled)):
                    if stop.is_set():
                        break
                    writer.write(trickled[index : index + 1])
                    await writer.drain()
                    try:  # anything read (an answer, or the end of the stream) means the server is done with it
                        await asyncio.wait_for(reader.read(1), timeout=every)
                        counts.closed_by_server += 1
                        break
                    except TimeoutError:
                        pass
            except OSError:
                counts.closed_by_server += 1
            finally:
                counts.open_now -= 1
                writer.close()

    async def all_connections() -> None:
        tasks = [asyncio.create_task(one_connection()) for _ in range(count)]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=asyncio.run, args=(all_connections(),), daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join(timeout=every + 10)


def steady_client(base_url: str, seconds: float, every: float = 0.2, timeout: float = 5) -> list[float | None]:
    """A well-behaved client: a new connection and a POST every ``every`` seconds for ``seconds``; the seconds each
    answer under 500 took, None for a request that failed, timed out or got a 5xx."""
    took: list[float | None] = []
    deadline = time.monotonic() + seconds
    while (started := time.monotonic()) < deadline:
        try:
            response = http("POST", base_url + "/api/order", b'{"name": "steady"}', "application/json", timeout=timeout)
            took.append(time.monotonic() - started if response.status < 500 else None)
        except OSError:
            took.append(None)
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return took


# --- The example system and the private index ------------------------------------------------------------------

# Where the example monorepo's services find the shared package, relative to each service.
EXAMPLE_PACKAGE_PATH = "../../libs/discount_calculator"
# The Python version the example system, the private-index tests and the benchmark use: one every machine of this
# project has an interpreter of (the default, 3.15, may only exist in containers: test_pythons.py).
EXAMPLE_PYTHON = "3.12"
INDEX_PYTHON = EXAMPLE_PYTHON
# What the private index mirrors: a service's runtime and development dependencies (pip's included: a pip service's
# .venv gets its pip from the lock) and the build backends of the three tools, as cookiecutter.json lists them.
MIRRORED_REQUIREMENTS = [
    *TEMPLATE_CONTEXT["__requirements"]["runtime"],
    *TEMPLATE_CONTEXT["__requirements"]["dev"],
    *TEMPLATE_CONTEXT["__requirements"]["pip_dev"],
    *TEMPLATE_CONTEXT["__requirements"]["build_backend"].values(),
    # Needed on other platforms only (click and pytest use colorama on Windows, gevent cffi), yet lockers resolve for
    # every platform.
    "colorama",
    "cffi",
]


def copy_shared_package(root: Path) -> Path:
    """Put a copy of the shared package at ``root``/libs/discount_calculator, as a monorepo holds it."""
    target = root / "libs" / "discount_calculator"
    shutil.copytree(
        SHARED_PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "dist", "build", "*.egg-info")
    )
    return target


def build_example_monorepo(
    root: Path, manager: str, postgres: Callable[[], PostgresServer] | None = None, *, lock: bool = True
) -> dict[str, BakedService]:
    """The example system for one dependency manager, generated (and locked) in ``root``, each service storing its
    records in PostgreSQL: a database of its own on ``postgres()`` (for its data and its tests) when given.

    ``root``/libs/discount_calculator (a copy of the shared package), ``root``/services/order_manager (with the
    package, by path) and ``root``/services/user_manager (without it). Returns {"order": ..., "user": ...}.
    """
    copy_shared_package(root)
    common = {
        "dependency_manager": manager,
        "python_version": EXAMPLE_PYTHON,
        "database": "postgresql",
        "_lock_dependencies": lock,
    }
    services = {
        "order": bake(
            root / "services",
            service_name="order_manager",
            use_discount_calculator=True,
            discount_calculator_path=EXAMPLE_PACKAGE_PATH,
            **common,
        ),
        "user": bake(root / "services", service_name="user_manager", **common),
    }
    if postgres is not None:
        for service in services.values():
            service.environment = database_environment(service.answers, postgres, service.path / "var")
    return services


def mirror_index_packages(packages: Path) -> None:
    """Download wheels of ``MIRRORED_REQUIREMENTS`` for every Python version the template offers into ``packages``,
    as a company mirror holds them (pip downloads for the Python it runs on; uv and Poetry resolve for every
    version the service allows)."""
    for version in PYTHONS:
        subprocess.run(
            [
                str(TOOLS_BIN / "python"), "-m", "pip", "download", "--quiet", "--dest", str(packages),
                "--only-binary", ":all:", "--python-version", version, *MIRRORED_REQUIREMENTS,
            ],
            check=True,
            env=clean_environment(),
            timeout=600,
        )  # fmt: skip


# --- Metrics and bills of materials -------------------------------------------------------------------------


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
        # name==version, an environment marker perhaps ("; sys_platform == 'win32'"), then the hashes.
        pin = r"^([A-Za-z0-9._-]+)==([^\s;]+)(?:\s*;[^\n]*?(?=\s+--hash|$))?((?:\s+--hash=sha256:\w+)*)"
        pins = re.finditer(pin, text, flags=re.MULTILINE)
        return {normalized(m[1]): (m[2], set(re.findall(r"sha256:(\w+)", m[3]))) for m in pins}
    lock = tomllib.loads((service / f"{manager}.lock").read_text())
    packages = {normalized(package["name"]): package for package in lock["package"]}

    def hashes(package: dict[str, Any]) -> set[str]:
        files = package.get("files", []) + package.get("wheels", []) + [package.get("sdist", {})]
        return {file["hash"].removeprefix("sha256:") for file in files if "hash" in file}

    if manager == "poetry":
        runtime = {name for name, package in packages.items() if "main" in package["groups"]}
    else:  # uv.lock holds the dev tools too: walk the service's own dependencies, with the extras they ask for
        todo: list[dict[str, Any]] = list(packages[normalized(service_name)].get("dependencies", []))
        runtime, seen = set(), set()
        while todo:
            dependency = todo.pop()
            name = normalized(dependency["name"])
            runtime.add(name)
            package = packages[name]
            for extra in (None, *dependency.get("extra", [])):
                if (name, extra) not in seen:
                    seen.add((name, extra))
                    optional = package.get("optional-dependencies", {})
                    todo += package.get("dependencies", []) if extra is None else optional.get(extra, [])
    return {name: (packages[name]["version"], hashes(packages[name])) for name in runtime}


def bom_packages(bom: dict[str, Any]) -> dict[str, tuple[str, set[str]]]:
    """{name: (version, sha256 hashes)} of a CycloneDX JSON document's components."""

    def hashes(component: dict[str, Any]) -> set[str]:
        references = component.get("externalReferences", [])
        found = component.get("hashes", []) + [h for reference in references for h in reference.get("hashes", [])]
        return {h["content"] for h in found if h["alg"] == "SHA-256"}

    return {normalized(c["name"]): (c["version"], hashes(c)) for c in bom["components"]}


# The Python versions the template offers (cookiecutter.json; the first is the default), and which dependency
# manager proves each: all of them on the default, one on every other version, in turn (uv first: the version
# after the default is the likeliest to lack an interpreter here, and uv is the quickest in a container).
# test_services.py runs a pair on this machine when it has that Python; test_pythons.py runs the others in a
# container of their python:X-slim image.
PYTHON_PROOFS: list[tuple[str, str]] = [(manager, PYTHONS[0]) for manager in MANAGERS] + [
    (MANAGERS[::-1][index % len(MANAGERS)], version) for index, version in enumerate(PYTHONS[1:])
]


def proofs_on_this_machine() -> list[tuple[str, str]]:
    """The (manager, Python) pairs of PYTHON_PROOFS whose Python this machine has: the install layer runs them here."""
    return [(manager, version) for manager, version in PYTHON_PROOFS if find_python(version)]
