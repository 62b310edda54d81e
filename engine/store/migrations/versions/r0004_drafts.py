"""Process drafts: one saved, not yet deployed edit of a process per process owner

Revision ID: r0004
Revises: r0003
Create Date: 2026-12-06 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "r0004"
down_revision: str | None = "r0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "process_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_drafts")),
        sa.UniqueConstraint("process_key", "owner", name=op.f("uq_process_drafts_process_key_owner")),
    )
    with op.batch_alter_table("process_drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_process_drafts_process_key"), ["process_key"], unique=False)


def downgrade() -> None:
    """Downgrade the schema."""
    with op.batch_alter_table("process_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_drafts_process_key"))
    op.drop_table("process_drafts")
