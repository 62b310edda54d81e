"""The quality registers as plain rows: 服務質量異常記錄表, 異常處理單, proposals, surveys, visits."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from department import quality
from engine.calendar import DEFAULT_ZONE
from engine.store.models import HistoryEvent

ANOMALY_KEYS = ("instance_id", "service_item", "observed_at", "source", "description", "reported_by",
                "reported_at", "department", "cause", "handling", "improvement", "instruction",
                "improvement_due", "status", "closed_at", "verified_by")
PROPOSAL_KEYS = ("instance_id", "customer", "channel", "received_at", "content", "department",
                 "registered_by",
                 "status", "decided_at", "grade", "reward")
SURVEY_KEYS = ("instance_id", "period", "building_customers", "handed_out", "returned", "satisfied",
               "non_conforming", "analysis", "analysed_by", "analysed_at")
VISIT_KEYS = ("instance_id", "visitor", "customer", "unit", "visited_at", "feedback", "actions")
# Steps of service_quality_anomaly that sign the 異常處理單, in the form's order.
TICKET_STEPS = ("investigate", "manager_instruction", "department_countersign", "cs_review",
                "implement_improvement", "verify_result")


def _plain(row: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: getattr(row, key) for key in keys}


def day_bounds(day: date, zone: tzinfo = DEFAULT_ZONE) -> tuple[datetime, datetime]:
    """Return a local calendar day as [start, end) instants."""
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def anomaly_rows(session: Session, start: datetime | None = None, end: datetime | None = None
                 ) -> list[dict[str, Any]]:
    """Return 服務質量異常記錄表 lines observed in [start, end), oldest first."""
    return [_plain(r, ANOMALY_KEYS) for r in quality.anomalies(session, start, end)]


def anomaly_daily_report(session: Session, day: date, zone: tzinfo = DEFAULT_ZONE) -> dict[str, Any]:
    """Return 質量異常分析日報表 for one local day: lines, per-item summary, still-open anomalies."""
    start, end = day_bounds(day, zone)
    rows = quality.anomalies(session, start, end)
    still_open = [_plain(r, ANOMALY_KEYS) for r in quality.anomalies(session, None, end)
                  if r.status != "closed"]
    return {"day": day.isoformat(), "lines": [_plain(r, ANOMALY_KEYS) for r in rows],
            "items": quality.anomaly_analysis(rows), "open": still_open}


def anomaly_ticket(session: Session, instance_id: int) -> dict[str, Any] | None:
    """Return one 異常處理單: the register line and who signed each step, when (None when unknown)."""
    row = next((r for r in quality.anomalies(session) if r.instance_id == instance_id), None)
    if row is None:
        return None
    signatures: dict[str, dict[str, Any]] = {}
    for element_id, actor, at, details in session.execute(
            select(HistoryEvent.element_id, HistoryEvent.actor, HistoryEvent.at, HistoryEvent.details)
            .where(HistoryEvent.instance_id == instance_id, HistoryEvent.kind == "task_completed")
            .order_by(HistoryEvent.id)):
        if element_id in TICKET_STEPS:
            entered = dict((details or {}).get("data") or {})
            signatures[str(element_id)] = {"actor": actor, "at": at, "data": entered}
    return {**_plain(row, ANOMALY_KEYS), "signatures": signatures}


def proposal_rows(session: Session) -> list[dict[str, Any]]:
    """Return the proposal register, newest first."""
    return [_plain(r, PROPOSAL_KEYS) for r in quality.proposals(session)]


def proposal_counts(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, Any]]:
    """Return proposals per customer and year (第12條)."""
    return quality.proposals_per_customer(quality.proposals(session), zone)


def survey_rows(session: Session) -> list[dict[str, Any]]:
    """Return analysed surveys, latest first, with their three rates in %."""
    out = []
    for row in quality.surveys(session):
        plain = _plain(row, SURVEY_KEYS)
        plain["satisfaction_percent"] = round(100 * row.satisfied / row.returned, 1) if row.returned else None
        plain["handout_percent"] = (round(100 * row.handed_out / row.building_customers, 1)
                                    if row.building_customers else None)
        plain["return_percent"] = round(100 * row.returned / row.handed_out, 1) if row.handed_out else None
        out.append(plain)
    return out


def visit_rows(session: Session, start: datetime | None = None, end: datetime | None = None
               ) -> list[dict[str, Any]]:
    """Return visit records in [start, end), newest first."""
    return [_plain(r, VISIT_KEYS) for r in quality.visits(session, start, end)]
