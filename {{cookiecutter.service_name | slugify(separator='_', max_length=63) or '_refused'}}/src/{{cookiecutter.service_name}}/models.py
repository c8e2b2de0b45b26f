{%- set cc = cookiecutter -%}
"""The tables, as SQLAlchemy models. The migrations in migrations/versions/ create them; a test keeps the two alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, String, func
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAME_LENGTH = 200
# The largest id the id column holds (a 32-bit integer in every database): larger ones cannot name a record.
MAX_ID = 2**31 - 1


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


class Base(DeclarativeBase):
    # Constraint names that the migrations can refer to, the same on every database.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class {{ cc.__model_name }}(Base):
    """A {{ cc.__resource_label }}, as the service stores it."""

    __tablename__ = "{{ cc.__table_name }}"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
{%- if cc.use_discount_calculator %}
    discount: Mapped[int]
{%- endif %}
    # utc_now gives every database microseconds; the database's own default still stamps a row inserted by plain SQL.
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, server_default=func.now())
