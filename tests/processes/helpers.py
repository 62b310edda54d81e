"""Scenario driver: every step goes through the engine façade and is committed, like a real caller."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.runtime import SYSTEM, Actor, Engine
from engine.store import queries
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from engine.store.unit_of_work import run_unit

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
KEYS = ("repair_dispatch", "complaint_handling", "sealed_key_usage", "hazardous_goods_issuance",
        "sealed_key_incident", "service_quality_anomaly", "customer_proposal", "satisfaction_survey",
        "customer_visit", "key_custody", "key_loan", "key_loss")
T = TypeVar("T")


def deploy_all(session: Session, engine: Engine) -> dict[str, int]:
    """Deploy the shipped BPMN files; return process key → version id."""
    versions = {}
    for key in KEYS:
        xml = (PROCESSES / f"{key}.bpmn").read_bytes()
        result = engine.deploy(session, xml, filename=f"{key}.bpmn")
        session.commit()
        versions[result.process_key] = result.version_id
    return versions


class Scenario:
    """One process instance walked step by step on a controlled clock."""

    def __init__(self, session: Session, engine: Engine, people: dict[str, Actor], now: datetime) -> None:
        self.session = session
        self.engine = engine
        self.people = people
        self.now = now
        self.instance_id: int | None = None

    # -- acting (each call is one committed unit of work; errors roll back) ---------------------
    def _unit(self, action: Callable[[], T]) -> T:
        try:
            # A process failure is committed, then raised here so a scenario can expect it.
            return run_unit(self.session, action).unwrap()
        finally:
            # The next call must read everything back from the store, not from this session.
            self.session.expire_all()

    def actor(self, who: str | Actor) -> Actor:
        """Return the actor for a username of the `people` fixture."""
        return who if isinstance(who, Actor) else self.people[who]

    def advance(self, **delta: float) -> datetime:
        """Move the scenario clock forward."""
        self.now += timedelta(**delta)
        return self.now

    def start(self, key: str, data: dict[str, Any], who: str | Actor) -> int:
        """Start an instance as a user and remember it."""
        inst = self._unit(lambda: self.engine.start(self.session, key, data, self.actor(who), now=self.now))
        self.instance_id = inst.id
        return inst.id

    def task(self, element_id: str) -> TaskRow:
        """Return the one open task of this instance at a BPMN element."""
        rows = [r for r in self.open_rows() if r.element_id == element_id]
        assert len(rows) == 1, f"expected one open {element_id}, open: {self.open_tasks()}"
        return rows[0]

    def due(self, element_id: str) -> datetime:
        """Return the deadline of the open task at an element (it must have one)."""
        due = self.task(element_id).due_at
        assert due is not None, f"{element_id} has no deadline"
        return due

    def claim(self, element_id: str, who: str | Actor) -> TaskRow:
        """Claim the open task at an element."""
        task_id = self.task(element_id).id
        return self._unit(lambda: self.engine.claim(self.session, task_id, self.actor(who), now=self.now))

    def do(self, element_id: str, who: str | Actor, data: dict[str, Any] | None = None) -> None:
        """Claim (when nobody holds it) and complete the open task at an element."""
        row = self.task(element_id)
        if row.assignee is None:
            self.claim(element_id, who)
        task_id = row.id
        self._unit(lambda: self.engine.complete(self.session, task_id, data or {}, self.actor(who),
                                                now=self.now))

    def fire(self, at: datetime) -> bool:
        """Fire the instance's due timers at a given moment (what `bpm worker --once --now` does)."""
        instance_id = self.instance_id
        assert instance_id is not None
        return self._unit(lambda: self.engine.fire_timers(self.session, instance_id, now=at))

    # -- reading back ---------------------------------------------------------------------------
    def instance(self) -> ProcessInstance:
        """Return the instance row as stored."""
        inst = self.session.get(ProcessInstance, self.instance_id)
        assert inst is not None
        return inst

    @property
    def data(self) -> dict[str, Any]:
        """Return the instance's case data."""
        return dict(self.instance().data or {})

    def open_rows(self) -> list[TaskRow]:
        """Return the open task rows of the instance."""
        return list(self.session.scalars(select(TaskRow).where(
            TaskRow.instance_id == self.instance_id, TaskRow.status == "open").order_by(TaskRow.created_at)))

    def open_tasks(self) -> list[str]:
        """Return the element ids of the open tasks, sorted."""
        return sorted(r.element_id for r in self.open_rows())

    def inbox(self, who: str | Actor, scope: str = "group") -> list[str]:
        """Return the element ids of this instance's tasks in a user's inbox (group or mine)."""
        page = queries.list_tasks(self.session, self.actor(who), self.now, scope=scope,
                                  instance_id=self.instance_id, with_forms=False)
        return sorted(t.name for t in page.items)

    def history(self, kind: str | None = None) -> list[HistoryEvent]:
        """Return the instance's history rows, oldest first, optionally of one kind."""
        query = select(HistoryEvent).where(HistoryEvent.instance_id == self.instance_id)
        if kind:
            query = query.where(HistoryEvent.kind == kind)
        return list(self.session.scalars(query.order_by(HistoryEvent.id)))

    def path(self) -> list[str]:
        """Return the user tasks completed so far, in order."""
        return [str(h.element_id) for h in self.history("task_completed")]

    def performers(self) -> list[tuple[str, str]]:
        """Return (element id, username) of every completed user task, in order."""
        return [(str(h.element_id), str(h.actor)) for h in self.history("task_completed")]

    def observed_history(self) -> list[dict[str, Any]]:
        """Return the history as an admin reads it through the query layer."""
        assert self.instance_id is not None
        return queries.instance_history(self.session, self.instance_id, SYSTEM, self.now)

    def assert_ended(self, outcome: str) -> None:
        """Assert the instance completed with an outcome and no work left."""
        inst = self.instance()
        assert inst.status == "completed", (inst.status, inst.error, self.open_tasks())
        assert inst.outcome == outcome
        assert inst.data.get("outcome") == outcome
        assert self.open_tasks() == []
        assert inst.next_wakeup_at is None

    def assert_escalated(self, element_id: str, timer_id: str) -> None:
        """Assert a deadline fired: escalation row naming the task, and the task shows as overdue."""
        rows = [h for h in self.history("escalation") if h.element_id == element_id]
        assert rows, f"no escalation recorded for {element_id}"
        assert rows[-1].details == {"timer": timer_id}
        assert self.task(element_id).overdue is True
