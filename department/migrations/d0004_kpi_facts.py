"""KPI facts of archived cases (issue 19): the KPIs of past periods keep their figures

Revision ID: d0004
Revises: d0003
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "d0004"
down_revision: str | None = "d0003"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the table of archived cases' KPI-measured tasks."""
    op.create_table(
        "kpi_task_facts",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("process_key", sa.String(length=64), nullable=False),
        sa.Column("element_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_kpi_task_facts")),
    )
    op.create_index("ix_kpi_task_facts_ready_at", "kpi_task_facts", ["ready_at"], unique=False)


def downgrade() -> None:
    """Drop the table."""
    op.drop_index("ix_kpi_task_facts_ready_at", table_name="kpi_task_facts")
    op.drop_table("kpi_task_facts")
