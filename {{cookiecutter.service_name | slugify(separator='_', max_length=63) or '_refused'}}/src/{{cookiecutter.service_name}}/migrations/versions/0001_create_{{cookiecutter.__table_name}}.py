{%- set cc = cookiecutter -%}
"""Create the {{ cc.__table_name }} table.

Revision ID: 0001
Revises:
Create Date: the template's first migration
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "{{ cc.__table_name }}",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
{%- if cc.use_discount_calculator %}
        sa.Column("discount", sa.Integer(), nullable=False),
{%- endif %}
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_{{ cc.__table_name }}")),
    )


def downgrade() -> None:
    op.drop_table("{{ cc.__table_name }}")
