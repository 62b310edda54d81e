"""The key register: history lines and the current status per key (issue 13)

Revision ID: d0002
Revises: d0001
Create Date: 2026-12-06 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "d0002"
down_revision: str | None = "d0001"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the key register's history and status tables."""
    op.create_table(
        "key_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("status_after", sa.String(length=16), nullable=False),
        sa.Column("seal_after", sa.String(length=100), nullable=True),
        sa.Column("holder_after", sa.String(length=100), nullable=True),
        sa.Column("instance_id", BIG_ID, nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f("fk_key_events_instance_id_process_instances"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_events")),
    )
    with op.batch_alter_table("key_events", schema=None) as batch_op:
        batch_op.create_index("ix_key_events_key", ["key_id", "id"], unique=False)
    op.create_table(
        "key_status",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seal_number", sa.String(length=100), nullable=True),
        sa.Column("holder", sa.String(length=100), nullable=True),
        sa.Column("last_event_id", BIG_ID, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_key_status")),
    )


def downgrade() -> None:
    """Drop the key register."""
    op.drop_table("key_status")
    with op.batch_alter_table("key_events", schema=None) as batch_op:
        batch_op.drop_index("ix_key_events_key")
    op.drop_table("key_events")
