"""Instances keep their earliest open deadline, so "running and overdue" is an index range

Revision ID: r0002
Revises: r0001
Create Date: 2026-12-03 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "r0002"
down_revision: str | None = "r0001"
branch_labels: str | None = None
depends_on: str | None = None

# Mirrors engine.inbox.instance_due: an escalated task counts from its creation.
BACKFILL = """
UPDATE process_instances SET due_at = (
    SELECT min(CASE WHEN tasks.overdue THEN tasks.created_at ELSE tasks.due_at END)
    FROM tasks WHERE tasks.instance_id = process_instances.id AND tasks.status = 'open')
"""


def upgrade() -> None:
    """Upgrade the schema."""
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.create_index("ix_instances_status_due", ["status", "due_at"], unique=False,
                              postgresql_include=["started_at", "id"])


def downgrade() -> None:
    """Downgrade the schema."""
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_status_due")
        batch_op.drop_column("due_at")
