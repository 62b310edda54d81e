"""The department's register tables, on their own branch: created, or adopted from the first release

Revision ID: d0001
Revises: r0001
Create Date: 2026-12-10 09:00:00

The first release created these tables in the engine's r0001 with exactly this DDL; a database
made by it already has them (with data) and this revision then only records that they are ours.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "d0001"
down_revision: str | None = "r0001"
branch_labels: tuple[str, ...] | None = ("department",)
depends_on: str | None = None


def _create_hazard_stock() -> None:
    op.create_table(
        "hazard_stock",
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("balance", sa.Double(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_hazard_stock_balance_not_negative")),
        sa.PrimaryKeyConstraint("item", name=op.f("pk_hazard_stock")),
    )


def _create_hazard_ledger() -> None:
    op.create_table(
        "hazard_ledger",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("balance_after", sa.Double(), nullable=False),
        sa.Column("instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("counterpart", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_hazard_ledger_balance_after_not_negative")),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instances.id"],
            name=op.f("fk_hazard_ledger_instance_id_process_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_ledger")),
    )
    with op.batch_alter_table("hazard_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_hazard_ledger_item", ["item", "id"], unique=False)


def _create_sealed_key_uses() -> None:
    op.create_table(
        "sealed_key_uses",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("archived_by", sa.String(length=64), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instances.id"],
            name=op.f("fk_sealed_key_uses_instance_id_process_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealed_key_uses")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_sealed_key_uses_instance_id")),
    )


TABLES = {
    "hazard_stock": _create_hazard_stock,
    "hazard_ledger": _create_hazard_ledger,
    "sealed_key_uses": _create_sealed_key_uses,
}


def upgrade() -> None:
    """Create the register tables a first-release database does not have yet."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in TABLES.items():
        if name not in existing:
            create()


def downgrade() -> None:
    """Drop the register tables."""
    op.drop_table("sealed_key_uses")
    with op.batch_alter_table("hazard_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_hazard_ledger_item")
    op.drop_table("hazard_ledger")
    op.drop_table("hazard_stock")
