"""The quality KPIs, computed from the registers the quality processes write (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from department.kpis import compute_kpis
from engine.runtime import Engine
from tests.processes.helpers import Scenario

NOV = (datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC))  # local November
AFTER_NOV = datetime(2026, 12, 2, tzinfo=UTC)


def kpis(session: Session, engine: Engine, now: datetime, period: tuple[datetime, datetime] = NOV
         ) -> dict[str, Any]:
    """Return the period's KPIs by key."""
    return {k.key: k for k in compute_kpis(session, *period, engine.calendar, now=now).kpis()}


def survey(sc: Scenario, handed_out: int, returned: int, satisfied: int, period: str) -> int:
    """Run a survey of 250 customers to its analysis; return its instance id."""
    instance_id = sc.start("satisfaction_survey", {"period": period}, "cs_manager")
    sc.do("plan_population", "cs_supervisor", {"building_customers": 250, "planned_handout": handed_out})
    sc.do("hand_out", "cs_assistant", {"handed_out": handed_out})
    sc.do("collect", "cs_assistant", {"returned": returned, "satisfied": satisfied})
    sc.do("analyse", "cs_manager", {"analysis": "分析"})
    return instance_id


def test_satisfaction_comes_from_the_latest_survey_with_its_handout_and_return_rates(
        sc: Scenario, session: Session, engine: Engine) -> None:
    sc.now -= timedelta(days=20)
    survey(sc, 200, 180, 171, "2026上半年")
    sc.now += timedelta(days=20)
    latest = survey(sc, 150, 120, 108, "2026下半年")
    found = kpis(session, engine, AFTER_NOV)
    satisfaction = found["satisfaction"]
    assert (satisfaction.overall.numerator, satisfaction.overall.denominator) == (108, 120)
    assert satisfaction.overall.target == 0.95 and satisfaction.overall.met is False
    assert {p: f.ratio for p, f in satisfaction.breakdowns["survey"].items()} == {"2026上半年": 0.95,
                                                                                 "2026下半年": 0.9}
    assert satisfaction.cases == (latest,)
    handout, returns = found["survey_handout_rate"].overall, found["survey_return_rate"].overall
    assert (handout.numerator, handout.denominator, handout.target, handout.met) == (150, 250, 0.7, False)
    assert (returns.numerator, returns.denominator, returns.target, returns.met) == (120, 150, 0.9, False)
    assert found["callback_satisfaction"].overall.denominator == 0  # the callbacks keep their own figure


def test_no_survey_yet_leaves_satisfaction_undecided(session: Session, engine: Engine, sc: Scenario) -> None:
    found = kpis(session, engine, AFTER_NOV)
    assert found["satisfaction"].overall.ratio is None and found["satisfaction"].overall.met is None


def visit(sc: Scenario, who: str, days_ago: int) -> int:
    """Record a visit made some days before the scenario clock."""
    return sc.start("customer_visit", {"customer": "华信公司", "feedback": "满意",
                                       "visited_at": (sc.now - timedelta(days=days_ago)).isoformat()}, who)


def test_each_manager_and_assistant_needs_two_visits_a_month(sc: Scenario, session: Session,
                                                             engine: Engine) -> None:
    cases = [visit(sc, "cs_manager", 1), visit(sc, "cs_manager", 2), visit(sc, "cs_assistant", 3)]
    kpi = kpis(session, engine, AFTER_NOV)["customer_visits"]
    # cs_manager met November; cs_assistant (one visit) and cs_assistant2 (none) did not.
    assert (kpi.overall.numerator, kpi.overall.denominator, kpi.pending) == (1, 3, 0)
    assert {a: f.met for a, f in kpi.breakdowns["actor"].items()} == {
        "cs_assistant": False, "cs_assistant2": False, "cs_manager": True}
    assert kpi.cases == tuple(sorted(cases))
    during = kpis(session, engine, sc.now)["customer_visits"]  # November not over: not missed yet
    assert (during.overall.numerator, during.overall.denominator, during.pending) == (1, 1, 2)


def anomaly(sc: Scenario, due_in_days: int, effective: bool) -> int:
    """Run an anomaly to its improvement; close it when effective."""
    instance_id = sc.start("service_quality_anomaly", {
        "service_item": "cleaning", "observed_at": (sc.now - timedelta(hours=1)).isoformat(),
        "source": "self_check", "description": "大堂地面未清洁"}, "cleaner")
    sc.do("investigate", "quality_specialist", {"cause": "排班缺人", "handling": "补清洁",
                                                "improvement": "调整排班", "department": "cleaning"})
    due = (sc.now + timedelta(days=due_in_days)).isoformat()
    sc.do("manager_instruction", "cs_manager", {"instruction": "落实", "improvement_due": due})
    sc.do("department_countersign", "cleaning_foreman", {})
    sc.do("cs_review", "cs_supervisor", {})
    if effective:
        sc.do("implement_improvement", "cleaning_foreman", {"implementation": "已调整"})
        sc.advance(hours=5)
        sc.do("verify_result", "quality_specialist", {"effective": True, "verification": "合格"})
    return instance_id


def test_anomalies_closed_counts_open_ones_once_their_improvement_is_overdue(
        sc: Scenario, session: Session, engine: Engine) -> None:
    anomaly(sc, 2, effective=True)
    overdue = anomaly(sc, 1, effective=False)
    not_due = anomaly(sc, 30, effective=False)
    report = compute_kpis(session, *NOV, engine.calendar, now=sc.now + timedelta(days=3))
    kpi = {k.key: k for k in report.kpis()}["anomalies_closed"]
    assert (kpi.overall.numerator, kpi.overall.denominator, kpi.pending) == (1, 2, 1)
    assert set(kpi.cases) == {overdue, not_due}
    facts = report.to_dict()["quality_facts"]["anomalies"]
    assert (facts["open"], facts["closed"], facts["mean_hours_to_close"]) == (2, 1, 5.0)
