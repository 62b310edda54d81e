"""Instance rows updated in place on PostgreSQL: process_instances pages filled to 70 % by inserts, so a
unit that changes no indexed column finds room for the row's next version on its page (a HOT update: no
index entries)

Revision ID: r0011
Revises: r0010
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "r0011"
down_revision: str | None = "r0010"
branch_labels: str | None = None
depends_on: str | None = None

FILLFACTOR = 70  # as engine.store.models.INSTANCE_FILLFACTOR (frozen here, as a revision must be)


def upgrade() -> None:
    """Upgrade the schema."""
    # Existing pages stay as they are; inserts and the pages they fill from now on keep the room (a
    # VACUUM FULL would repack the old ones, not needed). SQLite has no fill factor.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE process_instances SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    """Downgrade the schema."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE process_instances RESET (fillfactor)")
