{%- import "database/" ~ cookiecutter.database ~ ".jinja" as kind with context -%}
"""The database: an engine per process and a session per request, on the settings of db_settings.py. While it cannot
be reached, a request that needs it is answered 503 and ``/readyz`` says the service is not ready.

``register_database(app)`` sets all of it up: the app factory calls it.
"""

from __future__ import annotations

import logging
import os
{{- kind.engine_imports() }}
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy
from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Response

from {{ cookiecutter.service_name }}.core.db_settings import DatabaseSettings, IdempotencySettings
from {{ cookiecutter.service_name }}.core.errors import json_error, unexpected_error
from {{ cookiecutter.service_name }}.core.health import add_readiness_check

logger = logging.getLogger(__name__)
# A client told to come back after this many seconds: long enough for a restart, short enough for a failover.
RETRY_AFTER_SECONDS = 1
{{- kind.engine() }}


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and read back as an aware UTC datetime, whatever the database.

    PostgreSQL keeps the zone; SQLite keeps none, so what it holds is taken as UTC: the rows this type writes, and
    those its ``CURRENT_TIMESTAMP`` (UTC, whole seconds) stamped.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone; store an aware datetime, such as utc_now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_now() -> datetime:
    """Now, to the microsecond on every database (a database's own clock may give whole seconds)."""
    return datetime.now(UTC)


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
                engine = make_engine(current_app.extensions["database_settings"])
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


def _database_error(error: SQLAlchemyError) -> Response:
    """503 with Retry-After while the database cannot be reached; any other database error is a bug: 500."""
    if not unavailable(error):
        return unexpected_error(error)
    cause = getattr(error, "orig", None) or error  # the driver's error: its message names no password
    logger.warning("database unavailable: %s: %s", type(cause).__name__, str(cause).strip().split("\n")[0])
    return json_error(ServiceUnavailable("The database cannot be reached; try again.", retry_after=RETRY_AFTER_SECONDS))


def register_database(app: Flask) -> None:
    """Give ``app`` the database its environment names. The settings are read now, so that a missing or malformed
    one stops the service as it starts; the engine is made on first use, in each process."""
    app.extensions["database_settings"] = DatabaseSettings()
    app.extensions["idempotency_settings"] = IdempotencySettings()
    app.teardown_appcontext(_close_session)
    app.register_error_handler(SQLAlchemyError, _database_error)
    add_readiness_check(app, "database", answers)
