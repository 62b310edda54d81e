"""The service KPIs of SPEC §4 / seed 000's KPI table, computed from instance history for [start, end).

Definitions (the measuring rules admins read these figures by; each clock starts at the event the rule
book names, whatever the process version's own timers did):

(a) Repair timeliness (「相關部門人員15分鐘到達現場」) — one count per `repair_dispatch` request that needs
    someone on site (`arrive_on_site` or `assist`). The clock starts at the **request** (the instance's
    start), not at dispatch; it stops when the first `arrive_on_site` / `assist` task of the request is
    completed. On time: no later than 15 wall-clock minutes after the request. Target 100 %.
(b) Repair callback rate (「24個工作小時對員工進行回訪」) — `callback` tasks of `repair_dispatch`; the clock
    starts at the **end of the work**: the latest completion of `repair`, `assist` or `give_guidance`
    before the callback opened (the callback's opening when there is none). On time: completed within
    24 working hours on the business calendar. Target 100 %.
(c) Valid-complaint timeliness — one count per `complaint_handling` case whose last investigation
    found it `valid`. On time only when **all** of: `forward` within 10/20/30 min of its anchor
    (`forward_from`: receipt, or acceptance for a night general/minor one), every `report_to_leadership`
    within 1 h, and the customer informed (`inform_customer`) by `handling_due` (from receipt: major 24
    wall-clock hours, general 24 working hours, minor 24 working hours or the customer's time, never after
    a promised reply). The case counts in the period holding `handling_due`. Cases of process versions
    without `handling_due` (deployed before these rules) are measured by their investigation alone: 4
    (major) or 24 (general, minor) working hours from its start. Target 100 %, per severity and overall.
(d) Face-to-face callbacks (「報修回訪率70%以上面對面回訪」) — repair `callback` completions in the period
    with `callback_method` = face_to_face. Target ≥ 70 %.
(e) Callback satisfaction — `callback` completions of every process inside the period; satisfied when
    the completion data says `satisfied` = true. Target ≥ 95 %. (The half-yearly survey's `satisfaction`
    is a separate figure.)

Deadline figures (a–c) count each item once, in the period that holds its **deadline**: an item still
open after its deadline counts as missed at once, and a late completion never moves it into a later
period. Items whose deadline has not passed yet (as of `now`) and which are not done are `pending`;
tasks cancelled before their deadline are left out. Completing exactly at the deadline is on time.
Breakdowns: by role, by who did the work, by process version (`version`: which version's cases a row
counts), (c) by severity, (e) by process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from department.models import KpiTaskFact
from engine.calendar import BusinessCalendar
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion

REPAIR, COMPLAINT = "repair_dispatch", "complaint_handling"
ON_SITE_LIMIT = timedelta(minutes=15)
CALLBACK_WORKING_HOURS = 24.0
INVESTIGATION_WORKING_HOURS = {"major": 4.0, "general": 24.0, "minor": 24.0}
FORWARD_MINUTES = {"major": 10, "general": 20, "minor": 30}
REPORT_LIMIT = timedelta(hours=1)
TIMELY_TARGET, SATISFACTION_TARGET, FACE_TO_FACE_TARGET = 1.0, 0.95, 0.70
WORK_ELEMENTS = ("repair", "assist", "give_guidance")  # their completion ends the work before a callback
ON_SITE_CATEGORIES = ("repair", "housekeeping", "security")  # a consultation needs nobody on site
# How far before the period tasks may have become ready and still have their deadline inside it:
# 24 working hours span at most a few days even across the Spring Festival week.
LOOKBACK = timedelta(days=45)
_TASK_KINDS = ("task_ready", "task_completed", "task_cancelled")
# The (process, element) tasks the KPIs measure.
# Every user task a KPI reads: their facts outlive an archived case (issue 19).
MEASURED = frozenset({(REPAIR, "arrive_on_site"), (REPAIR, "assist"), (REPAIR, "callback"),
                      *((REPAIR, e) for e in WORK_ELEMENTS),
                      (COMPLAINT, "forward"), (COMPLAINT, "report_to_leadership"), (COMPLAINT, "investigate"),
                      (COMPLAINT, "inform_customer"), (COMPLAINT, "callback")})
CASE_KEY = "__case__"  # in a fact's data: the case's start, version and data, which the KPIs also read
_CHUNK = 500  # ids per IN (...) list


@dataclass(frozen=True)
class Figure:
    """One ratio against its target."""

    numerator: int
    denominator: int
    target: float
    ratio: float | None  # None when there was nothing to measure
    met: bool | None  # None when there was nothing to measure


def figure(numerator: int, denominator: int, target: float) -> Figure:
    """Build a figure, leaving ratio and verdict empty when the denominator is zero."""
    if denominator == 0:
        return Figure(numerator, 0, target, None, None)
    ratio = numerator / denominator
    return Figure(numerator, denominator, target, ratio, ratio >= target)


@dataclass(frozen=True)
class Miss:
    """A task that missed its deadline: where it is and how late."""

    instance_id: int
    task_id: str
    deadline: datetime
    completed_at: datetime | None  # None: still open (or cancelled) after the deadline


@dataclass(frozen=True)
class Item:
    """One case or task a KPI counted: the drill-down behind its number."""

    instance_id: int
    element_id: str
    due: datetime | None  # the deadline (None for shares, which have none)
    at: datetime | None  # when it was done (None: not done)
    hit: bool
    groups: dict[str, str]


@dataclass(frozen=True)
class Kpi:
    """One KPI: overall figure, breakdowns, and what it cannot decide yet."""

    key: str
    title_zh: str
    title_en: str
    overall: Figure
    breakdowns: dict[str, dict[str, Figure]] = field(default_factory=dict)
    pending: int = 0  # deadline in the period but not reached yet and not done
    missed: tuple[Miss, ...] = ()
    items: tuple[Item, ...] = ()  # every counted item, for the drill-down (not in to_dict)
    cases: tuple[int, ...] = ()  # issue 14: instances behind the figure (drill-down), when not deadline-based


@dataclass(frozen=True)
class KpiReport:
    """The KPIs of one period."""

    start: datetime
    end: datetime
    repair_timeliness: Kpi
    callback_rate: Kpi
    complaint_timeliness: Kpi
    callback_face_to_face: Kpi
    callback_satisfaction: Kpi
    # Issue 14: survey, visit and anomaly KPIs (department.quality_kpis), after seed 000's KPI table.
    quality: tuple[Kpi, ...] = ()
    quality_facts: dict[str, Any] = field(default_factory=dict)

    def kpis(self) -> list[Kpi]:
        """Return the KPIs in the order of seed 000's KPI table, then the quality KPIs."""
        return [self.repair_timeliness, self.callback_rate, self.complaint_timeliness,
                self.callback_face_to_face, self.callback_satisfaction, *self.quality]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict for the web layer."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "kpis": [_kpi_dict(k) for k in self.kpis()], "quality_facts": self.quality_facts}


def _figure_dict(f: Figure) -> dict[str, Any]:
    return {"numerator": f.numerator, "denominator": f.denominator, "ratio": f.ratio, "target": f.target,
            "met": f.met}


def _kpi_dict(k: Kpi) -> dict[str, Any]:
    return {"key": k.key, "title_zh": k.title_zh, "title_en": k.title_en, **_figure_dict(k.overall),
            "pending": k.pending,
            "breakdowns": {name: {g: _figure_dict(f) for g, f in groups.items()}
                           for name, groups in k.breakdowns.items()},
            "missed": [{"instance_id": m.instance_id, "task_id": m.task_id,
                        "deadline": m.deadline.isoformat(),
                        "completed_at": m.completed_at.isoformat() if m.completed_at else None}
                       for m in k.missed],
            "cases": list(k.cases)}


@dataclass
class _Task:
    """One user task pieced together from its history rows."""

    instance_id: int
    process_key: str
    element_id: str
    task_id: str
    role: str = "unknown"
    ready_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    cancelled_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _task_rows(session: Session, wanted: set[tuple[str, str]], *where: Any) -> list[_Task]:
    """Piece the wanted (process, element) tasks together from the history rows matching `where`."""
    elements = sorted({e for _p, e in wanted})
    processes = sorted({p for p, _e in wanted})
    rows = session.execute(
        select(HistoryEvent.instance_id, HistoryEvent.kind, HistoryEvent.at, HistoryEvent.actor,
               HistoryEvent.element_id, HistoryEvent.task_id, HistoryEvent.details,
               ProcessInstance.process_key)
        .join(ProcessInstance, ProcessInstance.id == HistoryEvent.instance_id)
        .where(HistoryEvent.kind.in_(_TASK_KINDS), *where,
               HistoryEvent.element_id.in_(elements), ProcessInstance.process_key.in_(processes))
        .order_by(HistoryEvent.id))
    tasks: dict[str, _Task] = {}
    for instance_id, kind, at, actor, element_id, task_id, details, process_key in rows:
        if (process_key, element_id) not in wanted or not task_id:
            continue
        task = tasks.setdefault(task_id, _Task(instance_id, process_key, element_id, task_id))
        details = details or {}
        if kind == "task_ready":
            task.ready_at = at
            task.role = str(details.get("role") or task.role)
        elif kind == "task_completed":
            task.completed_at, task.completed_by = at, actor
            task.data = dict(details.get("data") or {})
        else:
            task.cancelled_at = at
    return list(tasks.values())


def _load_tasks(session: Session, since: datetime, wanted: set[tuple[str, str]]) -> list[_Task]:
    """Read the wanted tasks since a moment: live history, then the facts kept of archived cases."""
    tasks = _task_rows(session, wanted, HistoryEvent.at >= since)
    facts = session.scalars(select(KpiTaskFact).where(or_(
        KpiTaskFact.ready_at >= since, KpiTaskFact.completed_at >= since, KpiTaskFact.cancelled_at >= since)))
    for fact in facts:
        if (fact.process_key, fact.element_id) not in wanted:
            continue

        def seen(moment: datetime | None) -> datetime | None:
            return moment if moment is not None and moment >= since else None  # as the live read sees it

        completed = seen(fact.completed_at)
        tasks.append(_Task(fact.instance_id, fact.process_key, fact.element_id, fact.task_id, fact.role,
                           seen(fact.ready_at), completed, fact.completed_by if completed else None,
                           seen(fact.cancelled_at), _task_data(fact.data) if completed else {}))
    return tasks


def _task_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """Return a fact's completion data without the case it carries."""
    return {k: v for k, v in (data or {}).items() if k != CASE_KEY}


def keep_kpi_facts(session: Session, instance_ids: list[int]) -> int:
    """Store the measured tasks of cases about to be archived, so past KPIs do not change; return how many."""
    tasks = _task_rows(session, set(MEASURED), HistoryEvent.instance_id.in_(instance_ids))
    severity = _severities(session, {t.instance_id for t in tasks if t.process_key == COMPLAINT})
    cases = _cases(session, (t.instance_id for t in tasks))
    for task in tasks:
        data = dict(task.data)
        case = cases.get(task.instance_id)
        if case is not None:
            data[CASE_KEY] = {"started_at": case.started_at.isoformat(), "version": case.version,
                              "data": case.data}
        session.merge(KpiTaskFact(
            task_id=task.task_id, instance_id=task.instance_id, process_key=task.process_key,
            element_id=task.element_id, role=task.role, ready_at=task.ready_at,
            completed_at=task.completed_at, completed_by=task.completed_by, cancelled_at=task.cancelled_at,
            data=data, severity=severity.get(task.instance_id)))
    session.flush()
    return len(tasks)


def _severities(session: Session, instance_ids: Iterable[int]) -> dict[int, str]:
    """Return each complaint's severity from the data it was started with (or its archived facts)."""
    ids = sorted(set(instance_ids))
    found: dict[int, str] = {}
    for i in range(0, len(ids), _CHUNK):
        for instance_id, details in session.execute(
                select(HistoryEvent.instance_id, HistoryEvent.details)
                .where(HistoryEvent.kind == "started", HistoryEvent.instance_id.in_(ids[i:i + _CHUNK]))):
            found[instance_id] = str(((details or {}).get("data") or {}).get("severity") or "general")
        for instance_id, kept in session.execute(
                select(KpiTaskFact.instance_id, KpiTaskFact.severity)
                .where(KpiTaskFact.instance_id.in_(ids[i:i + _CHUNK]), KpiTaskFact.severity.is_not(None))):
            found.setdefault(instance_id, str(kept))
    return found


class _Tally:
    """Counts on-time and decided tasks overall and per group."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, str], int] = defaultdict(int)
        self.total: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, hit: bool, groups: dict[str, str]) -> None:
        for key in [("", ""), *groups.items()]:
            self.total[key] += 1
            self.hits[key] += int(hit)

    def overall(self, target: float) -> Figure:
        return figure(self.hits[("", "")], self.total[("", "")], target)

    def breakdowns(self, target: float) -> dict[str, dict[str, Figure]]:
        out: dict[str, dict[str, Figure]] = defaultdict(dict)
        for (name, group), total in sorted(self.total.items()):
            if name:
                out[name][group] = figure(self.hits[(name, group)], total, target)
        return dict(out)


def _deadline_kpi(key: str, titles: tuple[str, str], tasks: Iterable[_Task],
                  deadline_of: Callable[[_Task], datetime], start: datetime, end: datetime, now: datetime,
                  groups_of: Callable[[_Task], dict[str, str]]) -> Kpi:
    """Count tasks whose deadline falls in [start, end) as on time, missed or pending."""
    tally, pending, missed, items = _Tally(), 0, [], []
    for task in tasks:
        if task.ready_at is None:
            continue  # became ready before the look-back window: not this period's
        deadline = deadline_of(task)
        if not start <= deadline < end:
            continue
        if task.completed_at is not None and task.completed_at <= deadline:
            hit = True
        elif task.completed_at is None and task.cancelled_at is not None and task.cancelled_at <= deadline:
            continue  # withdrawn before it was due: nothing was missed
        elif task.completed_at is None and task.cancelled_at is None and deadline >= now:
            pending += 1
            continue
        else:
            hit = False
            missed.append(Miss(task.instance_id, task.task_id, deadline, task.completed_at))
        groups = {"role": task.role, **groups_of(task)}
        if task.completed_by:
            groups["actor"] = task.completed_by
        tally.add(hit, groups)
        items.append(Item(task.instance_id, task.element_id, deadline, task.completed_at, hit, groups))
    return Kpi(key, titles[0], titles[1], tally.overall(TIMELY_TARGET), tally.breakdowns(TIMELY_TARGET),
               pending, tuple(sorted(missed, key=lambda m: (m.deadline, m.task_id))), tuple(items))


@dataclass(frozen=True)
class _Case:
    """What the KPIs read of one instance: when it started, on which version, its case data."""

    started_at: datetime
    version: str
    data: dict[str, Any]


def _cases(session: Session, instance_ids: Iterable[int]) -> dict[int, _Case]:
    """Return the start time, version label and current data of each instance."""
    ids = sorted(set(instance_ids))
    found: dict[int, _Case] = {}
    for i in range(0, len(ids), _CHUNK):
        for instance_id, key, started_at, number, data in session.execute(
                select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.started_at,
                       ProcessVersion.version, ProcessInstance.data)
                .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
                .where(ProcessInstance.id.in_(ids[i:i + _CHUNK]))):
            found[instance_id] = _Case(_aware(started_at), f"{key} v{number}", dict(data or {}))
    archived = [i for i in ids if i not in found]
    for i in range(0, len(archived), _CHUNK):
        chunk = archived[i:i + _CHUNK]
        for fact in session.scalars(select(KpiTaskFact).where(KpiTaskFact.instance_id.in_(chunk))):
            kept = (fact.data or {}).get(CASE_KEY)
            if kept and fact.instance_id not in found:
                found[fact.instance_id] = _Case(_aware(datetime.fromisoformat(kept["started_at"])),
                                                kept["version"], dict(kept["data"] or {}))
    return found


def _aware(moment: datetime) -> datetime:
    """Return a moment as aware UTC (SQLite hands back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _moment(value: Any) -> datetime | None:
    """Read an ISO moment the process wrote into its data; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def compute_kpis(session: Session, start: datetime, end: datetime, calendar: BusinessCalendar,
                 *, now: datetime | None = None) -> KpiReport:
    """Compute the KPIs of seed 000's table for [start, end) from history (see the module docstring)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise ValueError("the period must end after it starts")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    tasks = _load_tasks(session, start - LOOKBACK, set(MEASURED))
    by_kind: dict[tuple[str, str], list[_Task]] = defaultdict(list)
    for task in tasks:
        by_kind[(task.process_key, task.element_id)].append(task)
    cases = _cases(session, (t.instance_id for t in tasks))

    def version(task: _Task) -> dict[str, str]:
        case = cases.get(task.instance_id)
        return {"version": case.version} if case else {}

    repair = _repair_timeliness(session, by_kind, start, end, now)
    callback = _deadline_kpi(
        "repair_callback_rate",
        ("維修回訪率（完工後24個工作小時）", "Repair callbacks within 24 working hours of the work"),
        by_kind[(REPAIR, "callback")],
        lambda t: calendar.add_working_hours(_work_done(t, by_kind), CALLBACK_WORKING_HOURS),
        start, end, now, version)
    complaint = _complaint_timeliness(session, by_kind, cases, calendar, start, end, now)
    repair_callbacks = by_kind[(REPAIR, "callback")]
    face = _share("callback_face_to_face", ("面對面回訪率", "Face-to-face repair callbacks"),
                  repair_callbacks,
                  lambda t: t.data.get("callback_method") == "face_to_face", FACE_TO_FACE_TARGET,
                  start, end, version)
    satisfied = _share("callback_satisfaction", ("回訪滿意率", "Callback satisfaction"),
                       repair_callbacks + by_kind[(COMPLAINT, "callback")],
                       lambda t: t.data.get("satisfied") is True, SATISFACTION_TARGET, start, end,
                       lambda t: {"process": t.process_key, **version(t)})
    return KpiReport(start, end, repair, callback, complaint, face, satisfied,
                     *_quality(session, start, end, now, calendar))


def _quality(session: Session, start: datetime, end: datetime, now: datetime, calendar: BusinessCalendar
             ) -> tuple[tuple[Kpi, ...], dict[str, Any]]:
    """Issue 14: the survey, visit and anomaly KPIs and the anomaly facts (department.quality_kpis)."""
    from department.quality_kpis import anomaly_facts, quality_kpis  # it imports this module

    kpis = tuple(quality_kpis(session, start, end, now, calendar.zone))
    return kpis, {"anomalies": anomaly_facts(session, start, end)}


def _work_done(callback: _Task, by_kind: dict[tuple[str, str], list[_Task]]) -> datetime:
    """Return when the work before a callback ended: the latest work completion before it opened."""
    assert callback.ready_at is not None
    done = [t.completed_at for e in WORK_ELEMENTS for t in by_kind[(REPAIR, e)]
            if t.instance_id == callback.instance_id and t.completed_at is not None
            and t.completed_at <= callback.ready_at]
    return max(done, default=callback.ready_at)


def _repair_timeliness(session: Session, by_kind: dict[tuple[str, str], list[_Task]], start: datetime,
                       end: datetime, now: datetime) -> Kpi:
    """Count each on-site request once: its first arrival (arrive_on_site or assist) within 15 min of it."""
    first: dict[int, _Task] = {}
    for arrival in by_kind[(REPAIR, "arrive_on_site")] + by_kind[(REPAIR, "assist")]:
        held = first.get(arrival.instance_id)
        if arrival.ready_at is not None and (held is None or (arrival.ready_at, arrival.task_id) < (
                held.ready_at or arrival.ready_at, held.task_id)):
            first[arrival.instance_id] = arrival
    # Every request whose deadline falls in the period, dispatched or not: one never dispatched is late.
    requests = session.execute(
        select(ProcessInstance.id, ProcessInstance.started_at, ProcessInstance.data, ProcessInstance.status,
               ProcessInstance.ended_at, ProcessVersion.version)
        .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
        .where(ProcessInstance.process_key == REPAIR, ProcessInstance.started_at >= start - ON_SITE_LIMIT,
               ProcessInstance.started_at < end - ON_SITE_LIMIT))
    tally, pending, missed, items = _Tally(), 0, list[Miss](), list[Item]()
    for instance_id, started_at, data, status, ended_at, number in requests:
        if (data or {}).get("category") not in ON_SITE_CATEGORIES:
            continue
        deadline = _aware(started_at) + ON_SITE_LIMIT
        task = first.get(instance_id)
        done = task.completed_at if task is not None else None
        if done is None:
            if status == "terminated" and ended_at is not None and _aware(ended_at) <= deadline:
                continue  # withdrawn before it was due
            if task is not None and task.cancelled_at is not None and task.cancelled_at <= deadline:
                continue
            if deadline >= now:
                pending += 1
                continue
        hit = done is not None and done <= deadline
        groups = {"role": task.role if task is not None else "engineering_dispatcher",
                  "version": f"{REPAIR} v{number}"}
        if task is not None and task.completed_by:
            groups["actor"] = task.completed_by
        element = task.element_id if task is not None else "dispatch"
        tally.add(hit, groups)
        items.append(Item(instance_id, element, deadline, done, hit, groups))
        if not hit:
            missed.append(Miss(instance_id, task.task_id if task is not None else element, deadline, done))
    return Kpi("repair_timeliness", "維修及時率（報修後15分鐘到場）",
               "Repair timeliness (on site within 15 min of the request)", tally.overall(TIMELY_TARGET),
               tally.breakdowns(TIMELY_TARGET), pending,
               tuple(sorted(missed, key=lambda m: (m.deadline, m.task_id))), tuple(items))


def _complaint_timeliness(session: Session, by_kind: dict[tuple[str, str], list[_Task]],
                          cases: dict[int, _Case], calendar: BusinessCalendar, start: datetime, end: datetime,
                          now: datetime) -> Kpi:
    """Count valid complaints on time only when forward, report and handling from receipt were all on time."""
    per_instance: dict[int, dict[str, list[_Task]]] = defaultdict(lambda: defaultdict(list))
    for element in ("forward", "report_to_leadership", "investigate", "inform_customer"):
        for task in by_kind[(COMPLAINT, element)]:
            per_instance[task.instance_id][element].append(task)
    severity_at_start = _severities(session, per_instance)
    tally, pending, missed, items = _Tally(), 0, list[Miss](), list[Item]()
    for instance_id, parts in per_instance.items():
        case = cases.get(instance_id)
        investigations = sorted((t for t in parts["investigate"] if t.completed_at is not None),
                                key=lambda t: t.completed_at or now)
        if case is None or not investigations or investigations[-1].data.get("valid") is not True:
            continue
        severity = str(case.data.get("severity") or severity_at_start.get(instance_id, "general"))
        checks = _complaint_checks(parts, case, severity_at_start.get(instance_id, "general"), calendar)
        due = checks[-1][1]
        if not start <= due < end:
            continue
        late = [(element, deadline, done) for element, deadline, done in checks
                if (done is not None and done > deadline) or (done is None and deadline < now)]
        if not late and any(done is None for _e, _d, done in checks):
            pending += 1
            continue
        groups = {"severity": severity, "version": case.version,
                  "role": str(case.data.get("owner_role") or "unknown")}
        if case.data.get("owner"):
            groups["actor"] = str(case.data["owner"])
        tally.add(not late, groups)
        items.append(Item(instance_id, "complaint", due, checks[-1][2], not late, groups))
        missed.extend(Miss(instance_id, element, deadline, done) for element, deadline, done in late)
    return Kpi("valid_complaint_timeliness", "有效投訴處理及時率", "Valid complaints resolved in time",
               tally.overall(TIMELY_TARGET), tally.breakdowns(TIMELY_TARGET), pending,
               tuple(sorted(missed, key=lambda m: (m.deadline, m.instance_id, m.task_id))), tuple(items))


def _complaint_checks(parts: dict[str, list[_Task]], case: _Case, severity: str,
                      calendar: BusinessCalendar) -> list[tuple[str, datetime, datetime | None]]:
    """Return (element, deadline, done at) of each timed duty; the handling duty comes last."""
    handling_due = _moment(case.data.get("handling_due"))
    if handling_due is None:  # a version deployed before the receipt clocks: the investigation alone
        task = sorted(parts["investigate"], key=lambda t: t.ready_at or case.started_at)[-1]
        ready = task.ready_at or case.started_at
        hours = INVESTIGATION_WORKING_HOURS.get(severity, 24.0)
        return [("investigate", calendar.add_working_hours(ready, hours), task.completed_at)]
    checks: list[tuple[str, datetime, datetime | None]] = []
    forwards = sorted(parts["forward"], key=lambda t: t.ready_at or case.started_at)
    forward_from = _moment(case.data.get("forward_from")) or case.started_at
    if forwards:
        checks.append(("forward", forward_from + timedelta(minutes=FORWARD_MINUTES.get(severity, 20)),
                       forwards[0].completed_at))
    for report in parts["report_to_leadership"]:
        if report.ready_at is not None:
            checks.append(("report_to_leadership", report.ready_at + REPORT_LIMIT, report.completed_at))
    informed = [t.completed_at for t in parts["inform_customer"] if t.completed_at is not None]
    checks.append(("inform_customer", handling_due, min(informed, default=None)))
    return checks


def _share(key: str, titles: tuple[str, str], tasks: Iterable[_Task], hit: Callable[[_Task], bool],
           target: float, start: datetime, end: datetime,
           groups_of: Callable[[_Task], dict[str, str]]) -> Kpi:
    """Count the completions in [start, end) that satisfy a condition."""
    tally, items = _Tally(), []
    for task in tasks:
        if task.completed_at is None or not start <= task.completed_at < end:
            continue
        groups = {"role": task.role, **groups_of(task)}
        if task.completed_by:
            groups["actor"] = task.completed_by
        tally.add(hit(task), groups)
        items.append(Item(task.instance_id, task.element_id, None, task.completed_at, hit(task), groups))
    return Kpi(key, titles[0], titles[1], tally.overall(target), tally.breakdowns(target), items=tuple(items))
