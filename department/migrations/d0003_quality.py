"""The quality registers: service-quality anomalies, customer proposals, satisfaction surveys, visits

Revision ID: d0003
Revises: d0002
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "d0003"
down_revision: str | None = "d0002"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id_and_instance(table: str) -> list[Any]:
    """Return the id, the owning instance and their constraints every quality table shares."""
    return [
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instances.id"],
                                name=op.f(f"fk_{table}_instance_id_process_instances"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("instance_id", name=op.f(f"uq_{table}_instance_id")),
    ]


def upgrade() -> None:
    """Create the four quality register tables."""
    op.create_table(
        "quality_anomalies", *_id_and_instance("quality_anomalies"),
        sa.Column("service_item", sa.String(length=64), nullable=False),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("handling", sa.Text(), nullable=False),
        sa.Column("improvement", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=False),
        sa.Column("improvement_due", TS, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("verified_by", sa.String(length=64), nullable=True),
    )
    with op.batch_alter_table("quality_anomalies", schema=None) as batch_op:
        batch_op.create_index("ix_quality_anomalies_observed", ["observed_at"], unique=False)
    op.create_table(
        "customer_proposals", *_id_and_instance("customer_proposals"),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("reward", sa.Double(), nullable=True),
    )
    with op.batch_alter_table("customer_proposals", schema=None) as batch_op:
        batch_op.create_index("ix_customer_proposals_customer", ["customer", "received_at"], unique=False)
    op.create_table(
        "satisfaction_surveys", *_id_and_instance("satisfaction_surveys"),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("building_customers", sa.Integer(), nullable=False),
        sa.Column("handed_out", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("non_conforming", sa.Text(), nullable=False),
        sa.Column("analysis", sa.Text(), nullable=False),
        sa.Column("analysed_by", sa.String(length=64), nullable=False),
        sa.Column("analysed_at", TS, nullable=False),
    )
    op.create_table(
        "customer_visits", *_id_and_instance("customer_visits"),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("visited_at", TS, nullable=False),
        sa.Column("feedback", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
    )
    with op.batch_alter_table("customer_visits", schema=None) as batch_op:
        batch_op.create_index("ix_customer_visits_visitor", ["visitor", "visited_at"], unique=False)


def downgrade() -> None:
    """Drop the four quality register tables."""
    with op.batch_alter_table("customer_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_visits_visitor")
    op.drop_table("customer_visits")
    op.drop_table("satisfaction_surveys")
    with op.batch_alter_table("customer_proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_proposals_customer")
    op.drop_table("customer_proposals")
    with op.batch_alter_table("quality_anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_quality_anomalies_observed")
    op.drop_table("quality_anomalies")
