"""A throwaway PostgreSQL server on 127.0.0.1 for the services that keep data, what a service needs in its
environment to use it, and an ordinary user to run a service's tests as a developer does (PostgreSQL's server
refuses root)."""

from __future__ import annotations

import itertools
import os
import pwd
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kit.processes import CommandFailed, clean_environment, run
from kit.serving import free_port

if TYPE_CHECKING:
    from kit.answers import BakedService


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
        run([*as_user, *command], timeout=120)

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


def database_environment(service: BakedService, postgres: Callable[[], PostgresServer]) -> dict[str, str]:
    """What a service with a database needs in its environment in the suite: the database it serves from (a SQLite
    file goes in its var/) and, for a PostgreSQL one, the database its own tests use (``postgres`` gives the suite's
    server, started on first use)."""
    prefix, database, data = service.env_prefix, service.answers["database"], service.path / "var"
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


# What the ``postgres`` fixture (conftest.py) gives a test: the suite's server, started on first use.
PostgresGetter = Callable[[], "PostgresServer"]


# An ordinary user's PATH on Debian and Ubuntu (login.defs), which reaches none of root's tools.
USER_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True)
class Developer:
    """Someone who runs a service's commands as an ordinary user, from a home of their own: the user running the
    suite, or as root a throwaway account (``ordinary_user``). Tools they installed go in ``~/.local/bin``."""

    home: Path
    account: str | None = None  # None: the user running the suite

    @property
    def bin(self) -> Path:
        return self.home / ".local" / "bin"

    def environment(self) -> dict[str, str]:
        """Their shell's environment: their temporary files in their home and, for the throwaway account, their
        home, name and PATH instead of root's, and nothing that points into root's home (pyenv, tools' settings)."""
        temporary = {"TMPDIR": str(self.home / "tmp")}
        if self.account is None:
            return clean_environment({**temporary, "PATH": os.pathsep.join([str(self.bin), os.environ["PATH"]])})
        root_home = str(Path.home())
        environment = {
            name: value
            for name, value in clean_environment().items()
            if not any(part == root_home or part.startswith(root_home + os.sep) for part in value.split(os.pathsep))
        }
        path = os.pathsep.join([str(self.bin), *USER_PATH])
        environment.update(temporary, HOME=str(self.home), USER=self.account, LOGNAME=self.account, PATH=path)
        return environment

    def install(self, tool: Path) -> None:
        """A copy of the executable ``tool`` in ``~/.local/bin``, where pipx puts what it installs."""
        self.bin.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tool, self.bin / tool.name)
        self.own(self.home)

    def take(self, source: Path) -> Path:
        """A copy of the project at ``source`` in their home, theirs, without what running it left behind (its
        .venv and caches): what a clone of it gives them."""
        copy = self.home / source.name
        leftovers = shutil.ignore_patterns(".venv", "var", "__pycache__", ".*_cache")
        shutil.copytree(source, copy, symlinks=True, ignore=leftovers)
        self.own(self.home)
        return copy

    def run(self, *command: str, cwd: Path, timeout: float = 600) -> str:
        """``command`` in ``cwd`` as they run it; its output and errors together, or CommandFailed with their end."""
        as_account = [] if self.account is None else [_runuser(), "-u", self.account, "--"]
        return run([*as_account, *command], cwd, self.environment(), timeout=timeout, merged=True)

    def own(self, directory: Path) -> None:
        """Make ``directory`` and everything in it theirs."""
        if self.account is None:
            return
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, *_ids(self.account), follow_symlinks=False)


def _runuser() -> str:
    found = shutil.which("runuser")
    if found is None:
        raise CommandFailed("runuser is not installed (Debian: apt-get install util-linux)")
    return found


def _ids(account: str) -> tuple[int, int]:
    entry = pwd.getpwnam(account)
    return entry.pw_uid, entry.pw_gid


@contextmanager
def ordinary_user() -> Iterator[Developer]:
    """A developer with an empty home under the temporary directory, removed after. As root, a throwaway account
    of an ordinary user (useradd), deleted after with whatever it left running; else the user running the suite.

    A new account per use rather than a fixed one: it leaves this machine as it found it, and no run inherits
    another's files."""
    home = Path(tempfile.mkdtemp(prefix="template-tests-developer-"))
    (home / "tmp").mkdir()
    try:
        if os.geteuid() != 0:
            yield Developer(home)
            return
        account = f"template-dev-{secrets.token_hex(4)}"
        run(["useradd", "--home-dir", str(home), "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin",
             "--comment", "throwaway developer of the template's tests", account])  # fmt: skip
        try:
            developer = Developer(home, account)
            developer.own(home)
            yield developer
        finally:
            _stop_processes_of(account)
            run(["userdel", account])
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _stop_processes_of(account: str, timeout: float = 10) -> None:
    """Kill, by their ids, the processes ``account`` still runs: a PostgreSQL server whose tests were cut off
    outlives them (pg_ctl starts it in a session of its own), and userdel refuses an account that runs anything."""
    uid = _ids(account)[0]
    deadline = time.monotonic() + timeout
    while running := _processes_of(uid):
        if time.monotonic() > deadline:
            raise CommandFailed(f"{account} still runs processes {running} after SIGKILL")
        for pid in running:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _processes_of(uid: int) -> list[int]:
    owned = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        real_uid = next((line.split()[1] for line in lines if line.startswith("Uid:")), None)
        state = next((line.split()[1] for line in lines if line.startswith("State:")), "")
        if real_uid == str(uid) and state != "Z":  # a zombie is gone but for its parent's wait
            owned.append(int(status.parent.name))
    return owned
