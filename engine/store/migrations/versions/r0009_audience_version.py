"""The notification audience's version: a token that triggers on users, roles, preferences and channels
change, so each process may keep the audiences it read while the token stays the same

Revision ID: r0009
Revises: r0008
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "r0009"
down_revision: str | None = "r0008"
branch_labels: str | None = None
depends_on: str | None = None

# As engine/notify/directory.py creates them for create_schema (frozen here, as a revision must be).
WATCHED = {
    "users": "INSERT OR DELETE OR UPDATE OF username, active",
    "user_roles": "INSERT OR DELETE OR UPDATE",
    "notification_preferences": "INSERT OR DELETE OR UPDATE",
    "notification_channels": "INSERT OR DELETE OR UPDATE",
}
SQLITE_TOKEN = "lower(hex(randomblob(16)))"
PG_TOKEN = "replace(gen_random_uuid()::text, '-', '')"


def _sqlite_triggers() -> list[tuple[str, str, str]]:
    """Return (name, table, change) of each SQLite trigger (one per table and kind of change)."""
    return [(f"{table}_audience_{change.split()[0].lower()}", table, change)
            for table, changes in WATCHED.items() for change in changes.split(" OR ")]


def upgrade() -> None:
    """Upgrade the schema."""
    op.create_table(
        "notification_audience_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_audience_version")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    token = SQLITE_TOKEN if sqlite else PG_TOKEN
    op.execute(f"INSERT INTO notification_audience_version (id, token) VALUES (1, {token})")
    if sqlite:
        for name, table, change in _sqlite_triggers():
            op.execute(f"CREATE TRIGGER {name} AFTER {change} ON {table} "
                       f"BEGIN UPDATE notification_audience_version SET token = {token}; END")
        return
    op.execute("CREATE FUNCTION notification_audience_changed() RETURNS trigger LANGUAGE plpgsql "
               "SET search_path FROM CURRENT AS $$ BEGIN "
               f"UPDATE notification_audience_version SET token = {token}; RETURN NULL; END $$")
    for table, changes in WATCHED.items():
        op.execute(f"CREATE TRIGGER notification_audience_changed AFTER {changes} OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION notification_audience_changed()")


def downgrade() -> None:
    """Downgrade the schema."""
    if op.get_bind().dialect.name == "sqlite":
        for name, _table, _change in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS notification_audience_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS notification_audience_changed()")
    op.drop_table("notification_audience_version")
