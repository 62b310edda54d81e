"""The four service KPIs of SPEC §4, computed from instance history for a period [start, end).

Definitions (the measuring rules admins read these figures by):

(a) Repair timeliness — `arrive_on_site` tasks of `repair_dispatch`. The clock starts at the task's
    `task_ready` event, which the engine writes in the same unit of work that completes `dispatch`
    (so "ready" == "dispatched"); it stops at the task's `task_completed`. On time: completed no
    later than 15 wall-clock minutes after ready. Target 100 %.
(b) Repair callback rate — `callback` tasks of `repair_dispatch`; the clock starts when the task
    becomes ready (the work ended: foreman confirmed, or guidance given). On time: completed within
    24 working hours on the business calendar. Target 100 %.
(c) Valid-complaint timeliness by severity — `investigate` tasks of `complaint_handling` completed
    with `valid` = true; deadline 4 working hours (major) or 24 working hours (general, minor) after
    ready; the severity is read from the instance's `started` event. Target 100 %, per severity
    and overall.
(d) Customer satisfaction — `callback` completions of every process inside the period; satisfied
    when the completion data says `satisfied` = true. Target ≥ 95 %.

Deadline figures (a–c) count each task once, in the period that holds its **deadline**: a task
still open after its deadline counts as missed at once (not only when someone finally completes
it), and a late completion never moves a task into a later period. Tasks whose deadline has not
passed yet (as of `now`) and which are not done are `pending`; tasks cancelled before their
deadline (instance terminated, branch withdrawn) are left out. Completing exactly at the deadline
is on time. Each re-dispatch or repeated callback/investigation is a new task and counts again.
Breakdowns: by the task's role, by who completed it, and (c) by severity, (d) by process.
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
from engine.store.models import HistoryEvent, ProcessInstance

REPAIR, COMPLAINT = "repair_dispatch", "complaint_handling"
ON_SITE_LIMIT = timedelta(minutes=15)
CALLBACK_WORKING_HOURS = 24.0
INVESTIGATION_WORKING_HOURS = {"major": 4.0, "general": 24.0, "minor": 24.0}
TIMELY_TARGET, SATISFACTION_TARGET = 1.0, 0.95
# How far before the period tasks may have become ready and still have their deadline inside it:
# 24 working hours span at most a few days even across the Spring Festival week.
LOOKBACK = timedelta(days=45)
_TASK_KINDS = ("task_ready", "task_completed", "task_cancelled")
# The (process, element) tasks the KPIs measure.
MEASURED = frozenset({(REPAIR, "arrive_on_site"), (REPAIR, "callback"), (COMPLAINT, "investigate"),
                      (COMPLAINT, "callback")})
FACT_DATA_KEYS = ("valid", "satisfied")  # all the KPIs read of a completion's data
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
class Kpi:
    """One KPI: overall figure, breakdowns, and what it cannot decide yet."""

    key: str
    title_zh: str
    title_en: str
    overall: Figure
    breakdowns: dict[str, dict[str, Figure]] = field(default_factory=dict)
    pending: int = 0  # deadline in the period but not reached yet and not done
    missed: tuple[Miss, ...] = ()


@dataclass(frozen=True)
class KpiReport:
    """The four KPIs of one period."""

    start: datetime
    end: datetime
    repair_timeliness: Kpi
    callback_rate: Kpi
    complaint_timeliness: Kpi
    satisfaction: Kpi

    def kpis(self) -> list[Kpi]:
        """Return the four KPIs in SPEC order."""
        return [self.repair_timeliness, self.callback_rate, self.complaint_timeliness, self.satisfaction]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict for the web layer."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "kpis": [_kpi_dict(k) for k in self.kpis()]}


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
                       for m in k.missed]}


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
                           seen(fact.cancelled_at), dict(fact.data or {}) if completed else {}))
    return tasks


def keep_kpi_facts(session: Session, instance_ids: list[int]) -> int:
    """Store the measured tasks of cases about to be archived, so past KPIs do not change; return how many."""
    tasks = _task_rows(session, set(MEASURED), HistoryEvent.instance_id.in_(instance_ids))
    severity = _severities(session, {t.instance_id for t in tasks if t.process_key == COMPLAINT})
    for task in tasks:
        session.merge(KpiTaskFact(
            task_id=task.task_id, instance_id=task.instance_id, process_key=task.process_key,
            element_id=task.element_id, role=task.role, ready_at=task.ready_at,
            completed_at=task.completed_at, completed_by=task.completed_by, cancelled_at=task.cancelled_at,
            data={k: task.data[k] for k in FACT_DATA_KEYS if k in task.data},
            severity=severity.get(task.instance_id)))
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
    tally, pending, missed = _Tally(), 0, []
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
    return Kpi(key, titles[0], titles[1], tally.overall(TIMELY_TARGET), tally.breakdowns(TIMELY_TARGET),
               pending, tuple(sorted(missed, key=lambda m: (m.deadline, m.task_id))))


def compute_kpis(session: Session, start: datetime, end: datetime, calendar: BusinessCalendar,
                 *, now: datetime | None = None) -> KpiReport:
    """Compute the four KPIs of SPEC §4 for [start, end) from history (see the module docstring)."""
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
    investigations = [t for t in by_kind[(COMPLAINT, "investigate")]
                      if t.completed_at is not None and t.data.get("valid") is True]
    severity = _severities(session, (t.instance_id for t in investigations))

    def ready(task: _Task) -> datetime:
        assert task.ready_at is not None
        return task.ready_at

    def investigation_deadline(task: _Task) -> datetime:
        hours = INVESTIGATION_WORKING_HOURS.get(severity.get(task.instance_id, "general"), 24.0)
        return calendar.add_working_hours(ready(task), hours)

    repair = _deadline_kpi(
        "repair_timeliness", ("維修及時率（15分鐘到場）", "Repair timeliness (on site within 15 min)"),
        by_kind[(REPAIR, "arrive_on_site")], lambda t: ready(t) + ON_SITE_LIMIT, start, end, now,
        lambda t: {})
    callback = _deadline_kpi(
        "repair_callback_rate", ("維修回訪率（24個工作小時）", "Repair callbacks within 24 working hours"),
        by_kind[(REPAIR, "callback")], lambda t: calendar.add_working_hours(ready(t), CALLBACK_WORKING_HOURS),
        start, end, now, lambda t: {})
    complaint = _deadline_kpi(
        "valid_complaint_timeliness", ("有效投訴處理及時率", "Valid complaints resolved in time"),
        investigations, investigation_deadline, start, end, now,
        lambda t: {"severity": severity.get(t.instance_id, "general")})
    callbacks = by_kind[(REPAIR, "callback")] + by_kind[(COMPLAINT, "callback")]
    return KpiReport(start, end, repair, callback, complaint, _satisfaction(callbacks, start, end))


def _satisfaction(callbacks: Iterable[_Task], start: datetime, end: datetime) -> Kpi:
    """Count satisfied callbacks among all callbacks completed in [start, end)."""
    tally = _Tally()
    for task in callbacks:
        if task.completed_at is None or not start <= task.completed_at < end:
            continue
        groups = {"process": task.process_key, "role": task.role}
        if task.completed_by:
            groups["actor"] = task.completed_by
        tally.add(task.data.get("satisfied") is True, groups)
    return Kpi("satisfaction", "客戶滿意率", "Customer satisfaction", tally.overall(SATISFACTION_TARGET),
               tally.breakdowns(SATISFACTION_TARGET))
