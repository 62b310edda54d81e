"""Tables of the quality registers (seed 003 四, seed 000 三): anomalies, proposals, surveys, visits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base, BigId


class QualityAnomaly(Base):
    """One line of 服務質量異常記錄表, carrying its 異常處理單 from report to verified closure."""

    __tablename__ = "quality_anomalies"
    __table_args__ = (Index("ix_quality_anomalies_observed", "observed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"),
                                             unique=True)
    service_item: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime]
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime]
    department: Mapped[str] = mapped_column(String(32), default="")
    cause: Mapped[str] = mapped_column(Text, default="")
    handling: Mapped[str] = mapped_column(Text, default="")
    improvement: Mapped[str] = mapped_column(Text, default="")
    instruction: Mapped[str] = mapped_column(Text, default="")
    improvement_due: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CustomerProposal(Base):
    """One line of the proposal register (提案受理記錄), updated as the proposal is decided."""

    __tablename__ = "customer_proposals"
    __table_args__ = (Index("ix_customer_proposals_customer", "customer", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"),
                                             unique=True)
    customer: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    content: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(32))
    registered_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # received | held | adopted | rejected
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    grade: Mapped[str] = mapped_column(String(16), default="")
    reward: Mapped[float | None] = mapped_column(nullable=True)


class SatisfactionSurvey(Base):
    """One analysed customer-satisfaction survey (客戶滿意度調查) with its counts."""

    __tablename__ = "satisfaction_surveys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"),
                                             unique=True)
    period: Mapped[str] = mapped_column(String(32))
    building_customers: Mapped[int]
    handed_out: Mapped[int]
    returned: Mapped[int]
    satisfied: Mapped[int]
    non_conforming: Mapped[str] = mapped_column(Text, default="")  # space-separated departments
    analysis: Mapped[str] = mapped_column(Text, default="")
    analysed_by: Mapped[str] = mapped_column(String(64))
    analysed_at: Mapped[datetime]


class CustomerVisit(Base):
    """One customer visit record (客戶走訪記錄) by a customer-service manager or assistant."""

    __tablename__ = "customer_visits"
    __table_args__ = (Index("ix_customer_visits_visitor", "visitor", "visited_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"),
                                             unique=True)
    visitor: Mapped[str] = mapped_column(String(64))
    customer: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(64), default="")
    visited_at: Mapped[datetime]
    feedback: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text, default="")
