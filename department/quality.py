"""Register-writing services of the quality processes (seed 003 四, seed 000 三) and their reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from department.quality_models import CustomerProposal, CustomerVisit, QualityAnomaly, SatisfactionSurvey
from engine.domain import ServiceContext
from engine.errors import Conflict

# Departments an anomaly, proposal or non-conforming survey item goes to → the role of its head.
DEPARTMENTS: dict[str, tuple[str, str, str]] = {
    "customer_service": ("客服部", "Customer service", "cs_supervisor"),
    "engineering": ("工程部", "Engineering", "engineering_dispatcher"),
    "housekeeping": ("管家部", "Housekeeping", "housekeeping"),
    "security": ("保安部", "Security", "security_guard"),
    "cleaning": ("保洁部", "Cleaning", "cleaning_foreman"),
}


def _moment(value: Any, fallback: datetime) -> datetime:
    """Read a form's ISO datetime (stored as text in task data) as an aware UTC moment."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        moment = datetime.fromisoformat(value)
    else:
        return fallback
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _text(data: dict[str, Any], key: str) -> str:
    return str(data.get(key) or "")


def _row(session: Session, model: Any, instance_id: int) -> Any:
    return session.scalar(select(model).where(model.instance_id == instance_id).with_for_update())


# -- service_quality_anomaly: 服務質量異常記錄表 / 異常處理單 ------------------------------------------
def anomaly_record(ctx: ServiceContext, status: str = "open") -> str:
    """Write or update the instance's anomaly line from its data; `closed` marks it verified."""
    if status not in ("open", "closed"):
        raise ValueError(f"anomaly status must be 'open' or 'closed', got {status!r}")
    ctx.before_write()
    data = ctx.task_data()
    row = _row(ctx.session, QualityAnomaly, ctx.instance_id)
    if row is None:
        row = QualityAnomaly(instance_id=ctx.instance_id, reported_by=_text(data, "initiator") or ctx.actor,
                             reported_at=ctx.now)
        ctx.session.add(row)
    elif row.status == "closed":
        raise Conflict("this anomaly is already closed", instance_id=ctx.instance_id)
    row.service_item = _text(data, "service_item")[:64]
    row.observed_at = _moment(data.get("observed_at"), ctx.now)
    row.description = _text(data, "description")
    row.source = _text(data, "source")[:32]
    for key in ("department", "cause", "handling", "improvement", "instruction"):
        setattr(row, key, _text(data, key))
    row.improvement_due = _moment(data["improvement_due"], ctx.now) if data.get("improvement_due") else None
    row.status = status
    if status == "closed":
        row.closed_at, row.verified_by = ctx.now, ctx.actor
    ctx.service_calls.append({"operation": "anomaly_record", "status": status})
    return status


def anomalies(session: Session, start: datetime | None = None, end: datetime | None = None
              ) -> list[QualityAnomaly]:
    """Return anomaly lines observed in [start, end), oldest first."""
    query = select(QualityAnomaly).order_by(QualityAnomaly.observed_at, QualityAnomaly.id)
    if start is not None:
        query = query.where(QualityAnomaly.observed_at >= start)
    if end is not None:
        query = query.where(QualityAnomaly.observed_at < end)
    return list(session.scalars(query))


def anomaly_analysis(rows: list[QualityAnomaly]) -> list[dict[str, Any]]:
    """Summarise lines per service item for 質量異常分析日報表: count, open, causes, measures."""
    items: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = items.setdefault(row.service_item, {"service_item": row.service_item, "count": 0, "open": 0,
                                                   "causes": [], "measures": [], "instances": []})
        item["count"] += 1
        item["open"] += int(row.status != "closed")
        item["instances"].append(row.instance_id)
        for key, value in (("causes", row.cause), ("measures", row.improvement)):
            if value and value not in item[key]:
                item[key].append(value)
    return sorted(items.values(), key=lambda i: (-i["count"], i["service_item"]))


# -- customer_proposal: 提案受理記錄 --------------------------------------------------------------
PROPOSAL_STATUSES = ("received", "held", "adopted", "rejected")


def proposal_record(ctx: ServiceContext, status: str) -> str:
    """Write or update the instance's proposal line with its status (received, held, adopted, rejected)."""
    if status not in PROPOSAL_STATUSES:
        raise ValueError(f"proposal status must be one of {', '.join(PROPOSAL_STATUSES)}, got {status!r}")
    ctx.before_write()
    data = ctx.task_data()
    row = _row(ctx.session, CustomerProposal, ctx.instance_id)
    if row is None:
        row = CustomerProposal(instance_id=ctx.instance_id, grade="",
                               registered_by=_text(data, "initiator") or ctx.actor)
        ctx.session.add(row)
    row.customer = _text(data, "customer")[:100]
    row.channel = _text(data, "channel")[:16]
    row.received_at = _moment(data.get("received_at"), ctx.now)
    row.content = _text(data, "content")
    row.department = _text(data, "department")[:32]
    row.status = status
    if status in ("adopted", "rejected"):
        row.decided_at = ctx.now
    row.grade = _text(data, "grade")[:16]
    reward = data.get("reward")
    row.reward = float(reward) if isinstance(reward, (int, float)) else None
    ctx.service_calls.append({"operation": "proposal_record", "status": status})
    return status


def proposals(session: Session) -> list[CustomerProposal]:
    """Return every proposal line, newest first."""
    return list(session.scalars(select(CustomerProposal).order_by(CustomerProposal.received_at.desc(),
                                                                  CustomerProposal.id.desc())))


def proposals_per_customer(rows: list[CustomerProposal], zone: Any = UTC) -> list[dict[str, Any]]:
    """Count proposals per customer and year (第12條: a certificate after so many a year)."""
    counts: Counter[tuple[str, int]] = Counter()
    unadopted: Counter[tuple[str, int]] = Counter()
    for row in rows:
        key = (row.customer, row.received_at.astimezone(zone).year)
        counts[key] += 1
        unadopted[key] += int(row.status != "adopted")
    return [{"customer": c, "year": y, "count": n, "not_adopted": unadopted[(c, y)]}
            for (c, y), n in sorted(counts.items(), key=lambda kv: (-kv[0][1], -kv[1], kv[0][0]))]


# -- satisfaction_survey: 客戶滿意度調查 ----------------------------------------------------------
def survey_previous(ctx: ServiceContext) -> float:
    """Return the satisfaction % of the latest survey analysed before this one (-1 when none)."""
    others = select(SatisfactionSurvey).where(SatisfactionSurvey.instance_id != ctx.instance_id)
    row = ctx.session.scalar(others
                             .order_by(SatisfactionSurvey.analysed_at.desc(), SatisfactionSurvey.id.desc())
                             .limit(1))
    if row is None or not row.returned:
        return -1.0
    return round(100.0 * row.satisfied / row.returned, 1)


def survey_record(ctx: ServiceContext) -> bool:
    """Write the instance's analysed survey: its counts, the non-conforming departments and the analysis."""
    ctx.before_write()
    data = ctx.task_data()
    if _row(ctx.session, SatisfactionSurvey, ctx.instance_id) is not None:
        raise Conflict("this survey is already recorded", instance_id=ctx.instance_id)
    non_conforming = " ".join(d for d in DEPARTMENTS if data.get(f"nc_{d}") is True)
    ctx.session.add(SatisfactionSurvey(
        instance_id=ctx.instance_id, period=_text(data, "period")[:32],
        building_customers=int(data.get("building_customers") or 0),
        handed_out=int(data.get("handed_out") or 0),
        returned=int(data.get("returned") or 0), satisfied=int(data.get("satisfied") or 0),
        non_conforming=non_conforming, analysis=_text(data, "analysis"), analysed_by=ctx.actor,
        analysed_at=ctx.now))
    ctx.service_calls.append({"operation": "survey_record", "non_conforming": non_conforming})
    return True


def surveys(session: Session, before: datetime | None = None) -> list[SatisfactionSurvey]:
    """Return analysed surveys, latest first, optionally only those analysed before a moment."""
    query = select(SatisfactionSurvey).order_by(SatisfactionSurvey.analysed_at.desc(),
                                                SatisfactionSurvey.id.desc())
    if before is not None:
        query = query.where(SatisfactionSurvey.analysed_at < before)
    return list(session.scalars(query))


# -- customer_visit: 客戶走訪記錄 -----------------------------------------------------------------
def visit_record(ctx: ServiceContext) -> bool:
    """Write the instance's visit record, the visitor being who started it."""
    ctx.before_write()
    data = ctx.task_data()
    if _row(ctx.session, CustomerVisit, ctx.instance_id) is not None:
        raise Conflict("this visit is already recorded", instance_id=ctx.instance_id)
    ctx.session.add(CustomerVisit(
        instance_id=ctx.instance_id, visitor=_text(data, "initiator") or ctx.actor,
        customer=_text(data, "customer")[:100], unit=_text(data, "unit")[:64],
        visited_at=_moment(data.get("visited_at"), ctx.now), feedback=_text(data, "feedback"),
        actions=_text(data, "actions")))
    ctx.service_calls.append({"operation": "visit_record"})
    return True


def visits(session: Session, start: datetime | None = None, end: datetime | None = None
           ) -> list[CustomerVisit]:
    """Return visit records made in [start, end), newest first."""
    query = select(CustomerVisit).order_by(CustomerVisit.visited_at.desc(), CustomerVisit.id.desc())
    if start is not None:
        query = query.where(CustomerVisit.visited_at >= start)
    if end is not None:
        query = query.where(CustomerVisit.visited_at < end)
    return list(session.scalars(query))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "anomaly_record": anomaly_record,
    "proposal_record": proposal_record,
    "survey_previous": survey_previous,
    "survey_record": survey_record,
    "visit_record": visit_record,
}
"""Script name → implementation, merged into the department's functions."""

SERVICE_PROCESSES: dict[str, frozenset[str]] = {
    "anomaly_record": frozenset({"service_quality_anomaly"}),
    "proposal_record": frozenset({"customer_proposal"}),
    "survey_record": frozenset({"satisfaction_survey"}),
    "visit_record": frozenset({"customer_visit"}),
}
"""Register-writing name → the one process allowed to write that register."""
