"""The four SPEC §4 KPIs on constructed histories: exact figures, boundaries, working hours."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from department.kpis import compute_kpis, figure
from engine.calendar import BusinessCalendar
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion
from tests.conftest import T0

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar(country=None)
M = timedelta(minutes=1)


def local(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    """Return a Shanghai wall-clock moment as UTC."""
    return datetime(y, mo, d, h, mi, s, tzinfo=SH).astimezone(UTC)


class History:
    """Writes instances and task history rows the way the engine does."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.versions: dict[str, int] = {}

    def instance(self, key: str, *, started: datetime | None = None, data: dict[str, Any] | None = None,
                 **start_data: Any) -> int:
        if key not in self.versions:
            version = ProcessVersion(process_key=key, version=1, content_hash=key, name_zh=key, name_en=key,
                                     bpmn_xml="", model={}, deployed_at=T0 - timedelta(days=400))
            self.session.add(version)
            self.session.flush()
            self.versions[key] = version.id
        inst = ProcessInstance(process_key=key, version_id=self.versions[key], status="running",
                               started_by="cs_assistant", started_at=started or T0 - timedelta(days=60),
                               updated_at=T0, state_format=1, state=b"", data=data or {})
        self.session.add(inst)
        self.session.flush()
        self.event(inst.id, "started", inst.started_at, details={"data": start_data, "version": 1})
        return inst.id

    def event(self, instance_id: int, kind: str, at: datetime, **kw: Any) -> None:
        self.session.add(HistoryEvent(instance_id=instance_id, kind=kind, at=at, **kw))

    def task(self, instance_id: int, element: str, ready: datetime, *, done: datetime | None = None,
             by: str | None = None, data: dict[str, Any] | None = None, role: str = "technician",
             cancelled: datetime | None = None) -> str:
        task_id = str(uuid.uuid4())
        self.event(instance_id, "task_ready", ready, element_id=element, task_id=task_id,
                   details={"role": role, "assignee": None})
        if done is not None:
            self.event(instance_id, "task_completed", done, element_id=element, task_id=task_id,
                       actor=by or role, details={"data": data or {}, "changes": {}})
        if cancelled is not None:
            self.event(instance_id, "task_cancelled", cancelled, element_id=element, task_id=task_id)
        self.session.flush()
        return task_id


@pytest.fixture
def hist(session: Session) -> History:
    return History(session)


def test_an_empty_period_has_no_ratio_and_no_verdict(session: Session) -> None:
    report = compute_kpis(session, T0, T0 + timedelta(days=1), CAL, now=T0)
    for kpi in report.kpis():
        assert (kpi.overall.numerator, kpi.overall.denominator) == (0, 0)
        assert kpi.overall.ratio is None and kpi.overall.met is None
        assert kpi.breakdowns == {} and kpi.pending == 0
    json.dumps(report.to_dict())


def test_figure_meets_its_target_only_at_or_above_it() -> None:
    assert figure(19, 20, 0.95).met is True
    assert figure(18, 20, 0.95).met is False
    assert figure(99, 100, 1.0).met is False and figure(3, 3, 1.0).ratio == 1.0


def test_repair_timeliness_counts_the_first_arrival_within_15_minutes_of_the_request(
        session: Session, hist: History) -> None:
    def request(at: datetime = T0, category: str = "repair") -> int:
        return hist.instance("repair_dispatch", started=at, data={"category": category})

    on_time = hist.task(request(), "arrive_on_site", T0, done=T0 + 15 * M, by="tech_a")  # at the limit
    # Dispatched three hours late, on site five minutes after dispatch: late, counted from the request.
    late = hist.task(request(), "arrive_on_site", T0 + timedelta(hours=3),
                     done=T0 + timedelta(hours=3, minutes=5), by="tech_b")
    still_open = hist.task(request(), "arrive_on_site", T0 + 10 * M)  # deadline T0+15m has passed at `now`
    hist.task(request(T0 + 50 * M), "arrive_on_site", T0 + 55 * M)  # deadline T0+65m not reached: pending
    hist.task(request(), "arrive_on_site", T0, cancelled=T0 + 5 * M)  # withdrawn before its deadline
    hist.task(request(category="housekeeping"), "assist", T0, done=T0 + 10 * M, by="hk",
              role="housekeeping")  # assist: same rule
    never_dispatched = request()
    hist.task(request(category="consultation"), "give_guidance", T0, done=T0 + 30 * M)  # nobody on site
    twice = request()
    hist.task(twice, "arrive_on_site", T0 + 2 * M, done=T0 + 10 * M, by="tech_a")
    hist.task(twice, "arrive_on_site", T0 + timedelta(hours=4), done=T0 + timedelta(hours=5))  # re-dispatch
    hist.task(twice, "repair", T0, done=T0 + 2 * M)  # other tasks do not count
    other = hist.instance("complaint_handling", started=T0)
    hist.task(other, "arrive_on_site", T0, done=T0 + 30 * M)  # same element id, other process
    kpi = compute_kpis(session, T0 - timedelta(hours=1), T0 + timedelta(hours=2), CAL,
                       now=T0 + timedelta(hours=1)).repair_timeliness
    assert (kpi.overall.numerator, kpi.overall.denominator, kpi.pending) == (3, 6, 1)
    assert kpi.overall.target == 1.0 and kpi.overall.met is False
    assert {m.task_id for m in kpi.missed} == {late, still_open, "dispatch"}
    assert [m.instance_id for m in kpi.missed if m.task_id == "dispatch"] == [never_dispatched]
    assert on_time not in {m.task_id for m in kpi.missed}
    assert kpi.breakdowns["actor"]["tech_a"].ratio == 1.0 and kpi.breakdowns["actor"]["tech_b"].ratio == 0.0
    assert kpi.breakdowns["role"]["housekeeping"].ratio == 1.0
    assert kpi.breakdowns["version"]["repair_dispatch v1"].denominator == 6
    assert [i.hit for i in kpi.items].count(False) == 3


def test_a_task_counts_in_the_period_holding_its_deadline_start_inclusive_end_exclusive(
        session: Session, hist: History) -> None:
    repair = {"category": "repair"}
    prompt = hist.instance("repair_dispatch", started=T0, data=repair)  # deadline T0+15m
    hist.task(prompt, "arrive_on_site", T0, done=T0 + 3 * M)
    late = hist.instance("repair_dispatch", started=T0 + 15 * M, data=repair)  # deadline T0+30m
    hist.task(late, "arrive_on_site", T0 + 15 * M, done=T0 + 40 * M)

    def counted(start: datetime, end: datetime) -> tuple[int, int]:
        f = compute_kpis(session, start, end, CAL, now=T0 + timedelta(hours=1)).repair_timeliness.overall
        return f.numerator, f.denominator

    assert counted(T0 + 15 * M, T0 + 30 * M) == (1, 1)
    assert counted(T0, T0 + 15 * M) == (0, 0)
    assert counted(T0 + 30 * M, T0 + 45 * M) == (0, 1)
    assert counted(T0 + 15 * M, T0 + 31 * M) == (1, 2)


def test_callback_rate_counts_from_the_end_of_the_work_not_from_the_callback_opening(
        session: Session, hist: History) -> None:
    monday = local(2026, 11, 23, 10)  # + 24 working hours = Wednesday 12:00
    prompt = hist.instance("repair_dispatch", started=monday)
    hist.task(prompt, "repair", monday - 10 * M, done=monday, by="tech")
    hist.task(prompt, "callback", local(2026, 11, 25, 10), done=local(2026, 11, 25, 11), by="amy",
              role="cs_assistant")
    # The callback opened two days after the work (a late confirmation): late, though done 2 h after opening.
    delayed = hist.instance("repair_dispatch", started=monday)
    hist.task(delayed, "assist", monday - 10 * M, done=monday, by="hk", role="housekeeping")
    hist.task(delayed, "callback", local(2026, 11, 25, 11), done=local(2026, 11, 25, 13), by="bob",
              role="cs_assistant")
    kpi = compute_kpis(session, local(2026, 11, 23, 0), local(2026, 11, 30, 0), CAL,
                       now=local(2026, 12, 1, 0)).callback_rate
    assert (kpi.overall.numerator, kpi.overall.denominator) == (1, 2)
    assert [m.deadline for m in kpi.missed] == [local(2026, 11, 25, 12)]
    assert kpi.breakdowns["actor"]["bob"].ratio == 0.0


def test_callbacks_count_24_working_hours_skipping_evenings_weekends_and_holidays(
        session: Session, hist: History) -> None:
    iid = hist.instance("repair_dispatch")
    friday_5pm = local(2026, 11, 27, 17)  # 2 h left on Friday, 11 h Monday, 11 h Tuesday
    hist.task(iid, "callback", friday_5pm, done=local(2026, 12, 1, 18, 59), by="amy", role="cs_assistant")
    hist.task(iid, "callback", friday_5pm, done=local(2026, 12, 2, 8, 30), by="bob", role="cs_assistant")
    saturday = local(2026, 11, 28, 10)  # the clock starts Monday 08:00: deadline Wednesday 10:00
    hist.task(iid, "callback", saturday, done=local(2026, 12, 2, 9, 59), by="bob", role="cs_assistant")
    week = (local(2026, 11, 30, 0), local(2026, 12, 7, 0))
    kpi = compute_kpis(session, *week, CAL, now=local(2026, 12, 10, 0)).callback_rate
    assert (kpi.overall.numerator, kpi.overall.denominator) == (2, 3)
    assert kpi.missed[0].deadline == local(2026, 12, 1, 19)
    assert kpi.breakdowns["actor"]["bob"].numerator == 1
    assert kpi.breakdowns["role"]["cs_assistant"].denominator == 3
    # With Monday a holiday every deadline moves one working day later: all three are on time.
    holiday = BusinessCalendar(country=None, holidays=frozenset({date(2026, 11, 30)}))
    kpi = compute_kpis(session, *week, holiday, now=local(2026, 12, 10, 0)).callback_rate
    assert (kpi.overall.numerator, kpi.overall.denominator) == (3, 3)


def test_complaint_callbacks_do_not_count_as_repair_callbacks(session: Session, hist: History) -> None:
    iid = hist.instance("complaint_handling", severity="minor")
    hist.task(iid, "callback", T0, done=T0 + timedelta(days=5), role="cs_manager")
    kpi = compute_kpis(session, T0, T0 + timedelta(days=30), CAL, now=T0 + timedelta(days=30)).callback_rate
    assert kpi.overall.denominator == 0


def test_valid_complaints_of_versions_without_receipt_clocks_are_timed_by_their_investigation(
        session: Session, hist: History) -> None:
    major = hist.instance("complaint_handling", severity="major")
    general = hist.instance("complaint_handling", severity="general")
    minor = hist.instance("complaint_handling", severity="minor")
    monday_5pm = local(2026, 11, 23, 17)  # major: 2 h Monday + 2 h Tuesday → Tuesday 10:00
    hist.task(major, "investigate", monday_5pm, done=local(2026, 11, 24, 9, 30), data={"valid": True},
              by="eng", role="engineering_dispatcher")
    hist.task(major, "investigate", monday_5pm, done=local(2026, 11, 24, 10, 1), data={"valid": True},
              by="eng", role="engineering_dispatcher")
    # general: 9 h Monday from 10:00, 11 h Tuesday, 4 h Wednesday → Wednesday 12:00
    hist.task(general, "investigate", local(2026, 11, 23, 10), done=local(2026, 11, 25, 12),
              data={"valid": True}, by="guard", role="security_guard")
    hist.task(minor, "investigate", local(2026, 11, 23, 10), done=local(2026, 11, 30, 12),
              data={"valid": False}, by="guard", role="security_guard")  # invalid: not counted
    hist.task(minor, "investigate", local(2026, 11, 23, 10), role="security_guard")  # open: validity unknown
    kpi = compute_kpis(session, local(2026, 11, 23, 0), local(2026, 11, 30, 0), CAL,
                       now=local(2026, 12, 1, 0)).complaint_timeliness
    # One count per case; the major case's last investigation finished a minute late.
    assert (kpi.overall.numerator, kpi.overall.denominator) == (1, 2)
    sev = kpi.breakdowns["severity"]
    assert (sev["major"].numerator, sev["major"].denominator) == (0, 1)
    assert (sev["general"].numerator, sev["general"].denominator) == (1, 1)
    assert "minor" not in sev
    assert kpi.breakdowns["version"]["complaint_handling v1"].denominator == 2
    assert [(m.task_id, m.deadline) for m in kpi.missed] == [("investigate", local(2026, 11, 24, 10))]


def test_valid_complaint_is_on_time_only_when_forward_report_and_handling_all_were(
        session: Session, hist: History) -> None:
    def case(severity: str, *, forwarded: int, informed: int | None, report_done: int | None = None) -> int:
        data = {"severity": severity, "forward_from": T0.isoformat(), "owner": "amy",
                "owner_role": "cs_assistant", "handling_due": (T0 + timedelta(days=2, hours=2)).isoformat()}
        iid = hist.instance("complaint_handling", started=T0, data=data, severity=severity)
        hist.task(iid, "forward", T0, done=T0 + forwarded * M, by="amy", role="cs_assistant")
        if report_done is not None:
            hist.task(iid, "report_to_leadership", T0, done=T0 + report_done * M, role="project_manager")
        hist.task(iid, "investigate", T0 + 30 * M, done=T0 + 60 * M, data={"valid": True},
                  role="cs_supervisor")
        if informed is not None:
            hist.task(iid, "inform_customer", T0 + 60 * M, done=T0 + informed * M, by="amy",
                      role="cs_assistant")
        return iid

    late_forward = case("general", forwarded=25, informed=120)  # 25 min > 20 min, the rest on time
    on_time = case("general", forwarded=10, informed=180)
    late_report = case("major", forwarded=5, informed=300, report_done=120)  # reported after 2 h
    never_informed = case("general", forwarded=5, informed=None)
    kpi = compute_kpis(session, T0 - timedelta(days=1), T0 + timedelta(days=7), CAL,
                       now=T0 + timedelta(days=10)).complaint_timeliness
    assert (kpi.overall.numerator, kpi.overall.denominator) == (1, 4)
    assert sorted((m.instance_id, m.task_id) for m in kpi.missed) == sorted([
        (late_forward, "forward"), (late_report, "report_to_leadership"),
        (never_informed, "inform_customer")])
    assert on_time not in {m.instance_id for m in kpi.missed}
    assert kpi.breakdowns["actor"]["amy"].denominator == 4


def test_callback_satisfaction_is_satisfied_over_all_callbacks_of_every_process(
        session: Session, hist: History) -> None:
    repair = hist.instance("repair_dispatch")
    complaint = hist.instance("complaint_handling", severity="general")
    start, end = T0, T0 + timedelta(days=7)
    for i in range(15):
        hist.task(repair, "callback", start - timedelta(days=1), done=start + i * M,
                  data={"satisfied": True}, role="cs_assistant")
    for i in range(4):
        hist.task(complaint, "callback", start, done=start + timedelta(hours=i),
                  data={"satisfied": True}, role="cs_manager")
    hist.task(complaint, "callback", start, done=end - timedelta(seconds=1), data={"satisfied": False},
              role="cs_manager")
    hist.task(repair, "callback", start, done=end, data={"satisfied": False})  # at `end`: next period
    hist.task(repair, "callback", start, done=start - timedelta(seconds=1), data={"satisfied": False})
    kpi = compute_kpis(session, start, end, CAL, now=end).callback_satisfaction
    assert kpi.key == "callback_satisfaction"
    assert (kpi.overall.numerator, kpi.overall.denominator) == (19, 20)
    assert kpi.overall.ratio == 0.95 and kpi.overall.target == 0.95 and kpi.overall.met is True
    by_process = kpi.breakdowns["process"]
    repair_f, complaint_f = by_process["repair_dispatch"], by_process["complaint_handling"]
    assert (repair_f.numerator, repair_f.denominator) == (15, 15)
    assert (complaint_f.numerator, complaint_f.denominator) == (4, 5)
    assert complaint_f.met is False


def test_face_to_face_callbacks_are_a_share_of_repair_callbacks_against_70_percent(
        session: Session, hist: History) -> None:
    repair = hist.instance("repair_dispatch")
    complaint = hist.instance("complaint_handling", severity="general")
    for i in range(10):
        method = "face_to_face" if i < 7 else "phone"
        hist.task(repair, "callback", T0, done=T0 + i * M, data={"callback_method": method},
                  role="cs_assistant")
    hist.task(complaint, "callback", T0, done=T0 + M, data={"callback_method": "phone"}, role="cs_manager")
    day = (T0, T0 + timedelta(days=1))
    kpi = compute_kpis(session, *day, CAL, now=day[1]).callback_face_to_face
    assert (kpi.overall.numerator, kpi.overall.denominator) == (7, 10)
    assert kpi.overall.target == 0.70 and kpi.overall.met is True


def test_period_must_be_aware_and_forward(session: Session) -> None:
    with pytest.raises(ValueError):
        compute_kpis(session, T0, T0, CAL)
    with pytest.raises(ValueError):
        compute_kpis(session, T0.replace(tzinfo=None), T0 + timedelta(days=1), CAL)
