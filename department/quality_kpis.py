"""The quality KPIs (seed 000 三 and its KPI table, seed 003 四) for a period [start, end).

- `satisfaction`: satisfied / returned questionnaires of the latest survey analysed before the period
  ends (target 95 %); its breakdown compares it with the survey before.
- `survey_handout_rate`: handed out / customers in the building, same survey (target 70 %).
- `survey_return_rate`: returned / handed out, same survey (target 90 %).
- `customer_visits`: each customer-service manager and assistant must visit at least 2 customers in
  every calendar month (seed: 每月走訪2至5名以上); one person-month is met with 2 or more visits. A month
  not over yet (as of `now`) and not yet met is pending, not missed.
- `anomalies_closed`: service-quality anomalies observed in the period that are closed (verified
  effective); open ones whose improvement is not due yet are pending. `anomaly_facts` adds the open and
  closed counts and the mean hours from report to closure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from department import quality
from department.kpis import Kpi, _Tally, figure
from engine.store.models import User, UserRole

SATISFACTION_TARGET, HANDOUT_TARGET, RETURN_TARGET = 0.95, 0.70, 0.90
VISITS_PER_MONTH = 2
VISITORS = ("cs_manager", "cs_assistant")


def survey_kpis(session: Session, end: datetime) -> list[Kpi]:
    """Return satisfaction, handout and return rate from the latest survey analysed before `end`."""
    latest = quality.surveys(session, before=end)[:2]
    titles = {"satisfaction": ("客戶滿意率（滿意度調查）", "Customer satisfaction (survey)"),
              "survey_handout_rate": ("問卷發放率", "Survey handout rate"),
              "survey_return_rate": ("問卷回收率", "Survey return rate")}
    if not latest:
        return [Kpi(key, zh, en, figure(0, 0, target)) for (key, (zh, en)), target in
                zip(titles.items(), (SATISFACTION_TARGET, HANDOUT_TARGET, RETURN_TARGET), strict=True)]
    survey = latest[0]
    compared = {s.period or f"#{s.instance_id}": figure(s.satisfied, s.returned, SATISFACTION_TARGET)
                for s in latest}
    cases = (survey.instance_id,)
    return [
        Kpi("satisfaction", *titles["satisfaction"],
            figure(survey.satisfied, survey.returned, SATISFACTION_TARGET),
            {"survey": compared}, cases=cases),
        Kpi("survey_handout_rate", *titles["survey_handout_rate"],
            figure(survey.handed_out, survey.building_customers, HANDOUT_TARGET), cases=cases),
        Kpi("survey_return_rate", *titles["survey_return_rate"],
            figure(survey.returned, survey.handed_out, RETURN_TARGET), cases=cases),
    ]


def _months(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[int, int]]:
    """Return the calendar months (local) that overlap [start, end)."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    months, (year, month) = [], (first.year, first.month)
    while (year, month) <= (last.year, last.month):
        if datetime(year, month, 1, tzinfo=zone) < end:
            months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month_end(year: int, month: int, zone: tzinfo) -> datetime:
    return datetime(year + 1, 1, 1, tzinfo=zone) if month == 12 else datetime(year, month + 1, 1, tzinfo=zone)


def visits_kpi(session: Session, start: datetime, end: datetime, now: datetime, zone: tzinfo) -> Kpi:
    """Count person-months with at least two customer visits, per active manager and assistant."""
    people = set(session.scalars(select(User.username).join(UserRole, UserRole.user_id == User.id)
                                 .where(UserRole.role.in_(VISITORS), User.active.is_(True))))
    rows = quality.visits(session, start, end)
    people |= {r.visitor for r in rows}
    counts: Counter[tuple[str, int, int]] = Counter()
    for row in rows:
        local = row.visited_at.astimezone(zone)
        counts[(row.visitor, local.year, local.month)] += 1
    tally, pending = _Tally(), 0
    for year, month in _months(start, end, zone):
        for person in sorted(people):
            met = counts[(person, year, month)] >= VISITS_PER_MONTH
            if not met and _month_end(year, month, zone) > now:
                pending += 1
                continue
            tally.add(met, {"actor": person, "month": f"{year}-{month:02d}"})
    return Kpi("customer_visits", "客戶走訪（每人每月2–5名）", "Customer visits (2–5 per person a month)",
               tally.overall(1.0), tally.breakdowns(1.0), pending,
               cases=tuple(sorted({r.instance_id for r in rows})))


def anomalies_kpi(session: Session, start: datetime, end: datetime, now: datetime) -> Kpi:
    """Count anomalies observed in the period that are closed; open ones not yet due are pending."""
    tally, pending, open_cases = _Tally(), 0, []
    for row in quality.anomalies(session, start, end):
        closed = row.status == "closed"
        if not closed:
            open_cases.append(row.instance_id)
            due = row.improvement_due
            if due is None or due > now:
                pending += 1
                continue
        tally.add(closed, {"service_item": row.service_item})
    return Kpi("anomalies_closed", "服務質量異常結案率", "Service-quality anomalies closed",
               tally.overall(1.0),
               tally.breakdowns(1.0), pending, cases=tuple(open_cases))


def anomaly_facts(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Return open and closed counts and the mean hours to close of anomalies observed in the period."""
    rows = quality.anomalies(session, start, end)
    hours = [(r.closed_at - r.reported_at).total_seconds() / 3600 for r in rows if r.closed_at is not None]
    per_item: dict[str, int] = defaultdict(int)
    for row in rows:
        per_item[row.service_item] += 1
    return {"open": sum(r.status != "closed" for r in rows), "closed": len(hours),
            "mean_hours_to_close": round(sum(hours) / len(hours), 1) if hours else None,
            "per_service_item": dict(per_item)}


def quality_kpis(session: Session, start: datetime, end: datetime, now: datetime, zone: tzinfo) -> list[Kpi]:
    """Return the quality KPIs of [start, end) in the order the figures page shows them."""
    return [*survey_kpis(session, end), visits_kpi(session, start, end, now, zone),
            anomalies_kpi(session, start, end, now)]
