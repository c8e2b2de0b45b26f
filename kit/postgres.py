"""A throwaway PostgreSQL server on 127.0.0.1 for the services that keep data, and what a service needs in its
environment to use it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kit.processes import CommandFailed, run
from kit.serving import free_port


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


# What the ``postgres`` fixture (conftest.py) gives a test: the suite's server, started on first use.
PostgresGetter = Callable[[], "PostgresServer"]
