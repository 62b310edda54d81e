"""Fewer index pages per unit of work: partial indexes where readers ask for a part only (open tasks,
pending deliveries, cases waiting for a timer, set dedupe keys), history by time alone, one unique
(notification, channel) in place of the deliveries' key and notification indexes, no index nobody reads

Revision ID: r0010
Revises: r0009
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "r0010"
down_revision: str | None = "r0009"
branch_labels: str | None = None
depends_on: str | None = None

OPEN = "completed_at IS NULL"  # open: neither completed nor cancelled (either sets completed_at)
TASK_INCLUDES = {  # as r0001 made them; r0010's also carry status
    "ix_tasks_open_assignee_due": ["created_at", "id", "role", "process_key", "overdue"],
    "ix_tasks_open_role_due": ["assignee", "created_at", "id", "process_key", "overdue", "instance_id"],
}


def _partial(where: str) -> dict[str, sa.TextClause]:
    """Return the index keyword arguments making it partial on both databases."""
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def upgrade() -> None:
    """Upgrade the schema."""
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for name, column in (("ix_tasks_open_assignee_due", "assignee"), ("ix_tasks_open_role_due", "role")):
            batch_op.drop_index(name)
            batch_op.create_index(name, [column, "due_at"], unique=False,
                                  postgresql_include=[*TASK_INCLUDES[name], "status"], **_partial(OPEN))
        batch_op.drop_index("ix_tasks_completed_by")
        batch_op.create_index("ix_tasks_completed_by", ["completed_by", "completed_at"], unique=False,
                              **_partial("completed_by IS NOT NULL"))
        batch_op.create_index("ix_tasks_finished", ["status", "role", "completed_at"], unique=False,
                              **_partial("completed_at IS NOT NULL"))
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_kind_at")
        batch_op.create_index("ix_history_at", ["at"], unique=False)
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_wakeup")
        batch_op.create_index("ix_instances_wakeup", ["status", "next_wakeup_at"], unique=False,
                              **_partial("next_wakeup_at IS NOT NULL"))
        # r0001 made this one without the models' INCLUDE (id) on PostgreSQL (Alembic does not compare it).
        batch_op.drop_index("ix_instances_status_started")
        batch_op.create_index("ix_instances_status_started", ["status", "started_at"], unique=False,
                              postgresql_include=["id"])
    # SQLite keeps a table's UNIQUE constraints in its definition: batch mode rebuilds these two tables.
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_instance_id")
        batch_op.drop_constraint("uq_notifications_dedupe_key", type_="unique")
        batch_op.create_index("uq_notifications_dedupe_key", ["dedupe_key"], unique=True,
                              **_partial("dedupe_key IS NOT NULL"))
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_deliveries_notification_id")
        batch_op.drop_constraint("uq_notification_deliveries_idempotency_key", type_="unique")
        batch_op.create_unique_constraint("uq_notification_deliveries_notification_id_channel",
                                          ["notification_id", "channel"])
        batch_op.drop_index("ix_deliveries_status_next")
        batch_op.create_index("ix_deliveries_status_next", ["status", "next_attempt_at"], unique=False,
                              **_partial("status = 'pending'"))


def downgrade() -> None:
    """Downgrade the schema."""
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_status_next")
        batch_op.create_index("ix_deliveries_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.drop_constraint("uq_notification_deliveries_notification_id_channel", type_="unique")
        batch_op.create_unique_constraint("uq_notification_deliveries_idempotency_key", ["idempotency_key"])
        batch_op.create_index("ix_notification_deliveries_notification_id", ["notification_id"], unique=False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("uq_notifications_dedupe_key")
        batch_op.create_unique_constraint("uq_notifications_dedupe_key", ["dedupe_key"])
        batch_op.create_index("ix_notifications_instance_id", ["instance_id"], unique=False)
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_status_started")
        batch_op.create_index("ix_instances_status_started", ["status", "started_at"], unique=False)
        batch_op.drop_index("ix_instances_wakeup")
        batch_op.create_index("ix_instances_wakeup", ["status", "next_wakeup_at"], unique=False)
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_at")
        batch_op.create_index("ix_history_kind_at", ["kind", "at"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_finished")
        batch_op.drop_index("ix_tasks_completed_by")
        batch_op.create_index("ix_tasks_completed_by", ["completed_by"], unique=False)
        for name, column in (("ix_tasks_open_assignee_due", "assignee"), ("ix_tasks_open_role_due", "role")):
            batch_op.drop_index(name)
            batch_op.create_index(name, ["status", column, "due_at"], unique=False,
                                  postgresql_include=TASK_INCLUDES[name])
