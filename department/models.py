"""The department's register tables, on the engine's declarative base (one metadata, one schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base, BigId


class HazardStock(Base):
    """Running balance of one hazardous item; a row lock serialises ledger writes per item."""

    __tablename__ = "hazard_stock"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    item: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance: Mapped[float] = mapped_column(default=0)


class HazardLedgerLine(Base):
    """One line of the hazardous-goods register (危險品使用登記表); never updated or deleted."""

    __tablename__ = "hazard_ledger"
    __table_args__ = (
        Index("ix_hazard_ledger_item", "item", "id"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # stock_in | issue | return
    quantity: Mapped[float]
    balance_after: Mapped[float]
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id", ondelete="SET NULL"), nullable=True
    )
    actor: Mapped[str] = mapped_column(String(64))
    counterpart: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class SealedKeyUse(Base):
    """One use of a sealed key, with approvals, witnesses, times and seal numbers."""

    __tablename__ = "sealed_key_uses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instances.id", ondelete="CASCADE"), unique=True
    )
    unit: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    archived_by: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime]


class KeyEvent(Base):
    """One line of the key register's history (鑰匙登記); never updated or deleted."""

    __tablename__ = "key_events"
    __table_args__ = (Index("ix_key_events_key", "key_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # unit | plant_room | master
    event: Mapped[str] = mapped_column(String(24))
    status_after: Mapped[str] = mapped_column(String(16))
    seal_after: Mapped[str | None] = mapped_column(String(100), nullable=True)
    holder_after: Mapped[str | None] = mapped_column(String(100), nullable=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("process_instances.id", ondelete="SET NULL"), nullable=True
    )
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class KeyStatus(Base):
    """The current status of one key; always equal to the last of its history lines (bpm check)."""

    __tablename__ = "key_status"

    key_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # in_custody | sealed | out | lost | released
    seal_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    holder: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_event_id: Mapped[int] = mapped_column(BigId)
    updated_at: Mapped[datetime]


class KpiTaskFact(Base):
    """A KPI-measured user task of an archived case: its history is gone, the KPIs of its period stay."""

    __tablename__ = "kpi_task_facts"
    __table_args__ = (Index("ix_kpi_task_facts_ready_at", "ready_at"),)

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(BigId)  # the case is archived: no foreign key
    process_key: Mapped[str] = mapped_column(String(64))
    element_id: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    ready_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
