"""Comments and attachments on cases (the attachment bytes live in the file store, keyed by SHA-256)

Revision ID: r0007
Revises: r0006
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "r0007"
down_revision: str | None = "r0006"
branch_labels: str | None = None
depends_on: str | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "case_comments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"], ondelete="CASCADE",
                                name=op.f("fk_case_comments_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_comments")),
    )
    op.create_index("ix_case_comments_instance", "case_comments", ["instance_id", "id"])
    op.create_table(
        "case_attachments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("instance_id", BigId, nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("thumbnail", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"], ondelete="CASCADE",
                                name=op.f("fk_case_attachments_instance_id_process_instances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_attachments")),
    )
    op.create_index("ix_case_attachments_instance", "case_attachments", ["instance_id", "id"])


def downgrade() -> None:
    """Downgrade the schema."""
    op.drop_index("ix_case_attachments_instance", table_name="case_attachments")
    op.drop_table("case_attachments")
    op.drop_index("ix_case_comments_instance", table_name="case_comments")
    op.drop_table("case_comments")
