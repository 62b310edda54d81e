"""A process version's content may repeat an older version's: deploying an older file again takes back
the changes since as a new version (the unique constraint on key and content hash becomes an index)

Revision ID: r0008
Revises: r0007
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

from alembic import op

revision: str = "r0008"
down_revision: str | None = "r0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Upgrade the schema."""
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_process_versions_process_key_content_hash", type_="unique")
        batch_op.create_index("ix_process_versions_key_hash", ["process_key", "content_hash"], unique=False)


def downgrade() -> None:
    """Downgrade the schema (fails while two versions of one process share their content)."""
    with op.batch_alter_table("process_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_process_versions_key_hash")
        batch_op.create_unique_constraint("uq_process_versions_process_key_content_hash",
                                          ["process_key", "content_hash"])
