"""The database: an engine per process, a session per request, and a 503 while the database cannot be reached."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
{%- if cookiecutter.database == "sqlite" %}
from typing import Any
{%- endif %}

import sqlalchemy
from flask import Flask, current_app, g
from sqlalchemy import Engine{{ ", event" if cookiecutter.database == "sqlite" }}, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from {{ cookiecutter.service_name }}.config import Settings

{%- if cookiecutter.database == "sqlite" %}

# How long a write waits for another process's write to finish before it gives up ("database is locked").
BUSY_TIMEOUT_SECONDS = 5
{%- endif %}


def make_engine(settings: Settings) -> Engine:
    """An engine for ``settings.database_url``: its own pool, so only the process that makes it may use it.

    ``sqlalchemy.create_engine`` is looked up when called, so that a tracing instrumentation that wraps it applies.
    """
{%- if cookiecutter.database == "postgresql" %}
    return sqlalchemy.create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout,
        # A connection the server dropped (a restart, a failover) is replaced before a request gets it.
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": settings.database_connect_timeout,
            "application_name": "{{ cookiecutter.service_name }}",
        },
    )
{%- else %}
    engine = sqlalchemy.create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=settings.database_pool_timeout,
        connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
    )
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(connection: Any, _record: object) -> None:
    """Write-ahead logging: readers never wait for the writer, and workers write one after another."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
{%- endif %}


@dataclass(frozen=True)
class _Database:
    pid: int
    engine: Engine
    sessions: sessionmaker[Session]


_lock = threading.Lock()


def _database() -> _Database:
    """This process's engine, made on first use. gunicorn loads the app in its master and forks the workers from it:
    an engine made before the fork would share its connections between processes, so each process makes its own."""
    database: _Database | None = current_app.extensions.get("database")
    if database is None or database.pid != os.getpid():
        with _lock:
            database = current_app.extensions.get("database")
            if database is None or database.pid != os.getpid():
                engine = make_engine(current_app.config["SETTINGS"])
                database = _Database(os.getpid(), engine, sessionmaker(engine, expire_on_commit=False))
                current_app.extensions["database"] = database
    return database


def engine() -> Engine:
    return _database().engine


def session() -> Session:
    """The request's session: one per request, closed (its transaction rolled back if not committed) at its end."""
    if "database_session" not in g:
        g.database_session = _database().sessions()
    current: Session = g.database_session
    return current


def answers() -> bool:
    """Whether the database answers a trivial query now (``/readyz``)."""
    try:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _close_session(_error: BaseException | None) -> None:
    current: Session | None = g.pop("database_session", None)
    if current is not None:
        current.close()


def unavailable(error: SQLAlchemyError) -> bool:
    """Whether ``error`` means the database cannot be reached now (down, restarting, every connection busy)."""
    return isinstance(error, OperationalError | PoolTimeoutError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def register_database(app: Flask) -> None:
    app.teardown_appcontext(_close_session)
