{%- set cc = cookiecutter -%}
"""The tables, as SQLAlchemy models. The migrations in migrations/versions/ create them; a test keeps the two alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from {{ cc.service_name }}.core.db import UtcDateTime, utc_now

NAME_LENGTH = 200
# The largest id the id column holds (a 32-bit integer in every database): larger ones cannot name a record.
MAX_ID = 2**31 - 1


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
