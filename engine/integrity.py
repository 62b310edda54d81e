"""`bpm check`: prove every instance's stored state, inbox, history and registers agree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import definitions, domain
from engine.spiff.state import load_state
from engine.spiff.tasks import ready_user_tasks, unreadable_timers, wakeup_time
from engine.store.inbox import instance_due
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, TaskRow

STATUSES = ("running", "suspended", "error", "completed", "terminated")
FINAL = ("completed", "terminated")
BATCH = 200


@dataclass(frozen=True)
class Finding:
    """One inconsistency: which instance (None for registers), what kind, and a readable reason."""

    instance_id: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"instance {self.instance_id}" if self.instance_id is not None else "registers"
        return f"{where}: [{self.kind}] {self.message}"


def instance_ids(session: Session) -> Iterator[int]:
    """Yield every instance id in batches, so a large database is never read at once."""
    last = 0
    while True:
        ids = list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.id > last)
                                   .order_by(ProcessInstance.id).limit(BATCH)))
        if not ids:
            return
        yield from ids
        last = ids[-1]


def check_all(session: Session) -> list[Finding]:
    """Check every instance and the domain's registers; return every finding."""
    findings: list[Finding] = []
    for instance_id in instance_ids(session):
        findings.extend(check_instance(session, instance_id))
    findings.extend(check_registers(session))
    return findings


def check_instance(session: Session, instance_id: int) -> list[Finding]:
    """Check one instance: state loads, inbox == ready tasks, history agrees, wake-up is right."""
    inst = session.get(ProcessInstance, instance_id)
    if inst is None:
        return [Finding(instance_id, "missing", "no such instance")]
    out: list[Finding] = []

    def found(kind: str, message: str) -> None:
        out.append(Finding(instance_id, kind, message))

    if inst.status not in STATUSES:
        found("status", f"unknown status {inst.status!r}")
    rows = list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id)))
    events = list(session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == instance_id)
                                  .order_by(HistoryEvent.id)))
    _check_history(inst, rows, events, found)
    workflow = _load(session, inst, found)
    if workflow is not None:
        _check_timers(workflow, found)
        try:
            _check_against_state(inst, rows, workflow, found)
        except (ValueError, OverflowError, TypeError) as exc:  # one unreadable value must not stop the check
            found("state", f"stored state cannot be compared: {exc}")
    return out


def _load(session: Session, inst: ProcessInstance, found: Any) -> Any:
    """Load the stored state with its version's compiled spec; report why when it does not load."""
    version = session.get(ProcessVersion, inst.version_id)
    if version is None:
        found("version", f"version row {inst.version_id} is missing")
        return None
    try:
        compiled = definitions.compiled_version(version)
    except Exception as exc:  # a stored version that no longer compiles is itself a finding
        found("version", f"{inst.process_key} v{version.version} does not compile: {exc}")
        return None
    try:
        # No script runs while loading, so Spiff's default script engine is enough here.
        return load_state(inst.state, inst.state_format, compiled.spec, compiled.subprocess_specs, None)
    except Exception as exc:
        found("state", f"stored state does not load: {exc}")
        return None


def _check_timers(workflow: Any, found: Any) -> None:
    """Every waiting timer's due time must be a date the engine's clock can reach."""
    for element, due, reason in unreadable_timers(workflow):
        found("timer", f"timer {element} is due at {due!r}, which is out of range: {reason}")


def _check_history(inst: ProcessInstance, rows: list[TaskRow], events: list[HistoryEvent],
                   found: Any) -> None:
    """Compare task rows and instance status with the append-only history."""
    kinds = Counter(e.kind for e in events)
    if kinds["started"] != 1:
        found("history", f"{kinds['started']} 'started' events (expected exactly one)")
    ready_events = {e.task_id for e in events if e.kind == "task_ready"}
    completions = Counter(e.task_id for e in events if e.kind == "task_completed")
    by_id = {r.id: r for r in rows}
    for row in rows:
        if row.id not in ready_events:
            found("history", f"task {row.id} ({row.element_id}) has no task_ready event")
        if row.status == "completed" and completions[row.id] == 0:
            found("history", f"task {row.id} ({row.element_id}) is completed without a task_completed event")
        if row.status not in ("open", "completed", "cancelled"):
            found("inbox", f"task {row.id} has unknown status {row.status!r}")
    for task_id, count in completions.items():
        done = by_id.get(task_id or "")
        if count > 1:
            found("history", f"task {task_id} was completed {count} times")
        if done is None or done.status != "completed":
            state = "no row" if done is None else f"row is {done.status}"
            found("history", f"task_completed event for task {task_id} but {state}")
    open_rows = [r for r in rows if r.status == "open"]
    if inst.status in FINAL:
        if open_rows:
            found("inbox", f"{inst.status} instance has {len(open_rows)} open task(s): "
                  + ", ".join(r.element_id for r in open_rows))
        if kinds[inst.status] != 1:
            found("history", f"status is {inst.status} but history has {kinds[inst.status]} "
                  f"'{inst.status}' event(s)")
        if inst.ended_at is None:
            found("status", f"{inst.status} instance has no ended_at")
    elif kinds["completed"] or kinds["terminated"]:
        found("history", f"status is {inst.status} but history says the instance ended")
    if inst.status == "error" and not inst.error:
        found("status", "status is error but no error is recorded")
    if inst.due_at != instance_due(open_rows):
        found("inbox", f"instance due time {inst.due_at} does not match its open tasks "
              f"({instance_due(open_rows)})")


def _check_against_state(inst: ProcessInstance, rows: list[TaskRow], workflow: Any, found: Any) -> None:
    """Compare the instance row and its open tasks with the loaded workflow."""
    completed = workflow.is_completed()
    if inst.status == "completed" and not completed:
        found("status", "status is completed but the workflow is not")
    if inst.status in ("running", "suspended") and completed:
        found("status", f"status is {inst.status} but the workflow is completed")
    if inst.status != "terminated":
        _check_inbox(inst, rows, workflow, found)
    expected: datetime | None = None if inst.status in FINAL or completed else wakeup_time(workflow)
    if inst.next_wakeup_at != expected:
        found("wakeup", f"next_wakeup_at is {_iso(inst.next_wakeup_at)}, the state says {_iso(expected)}")


def _check_inbox(inst: ProcessInstance, rows: list[TaskRow], workflow: Any, found: Any) -> None:
    """Open task rows must be exactly the workflow's ready user tasks (error: a subset of them)."""
    ready = {str(t.id): t.task_spec.bpmn_id for t in ready_user_tasks(workflow)}
    open_rows = {r.id: r.element_id for r in rows if r.status == "open"}
    for task_id, element in sorted(open_rows.items()):
        if task_id not in ready:
            found("inbox", f"open task {task_id} ({element}) is not a ready task of the workflow")
        elif ready[task_id] != element:
            found("inbox", f"open task {task_id} says {element}, the workflow says {ready[task_id]}")
    # A failure while projecting the inbox (e.g. an assignee who left) leaves a ready task without a
    # row until an admin retries: only an instance in error may show that.
    if inst.error is None:
        for task_id, element in sorted(ready.items()):
            if task_id not in open_rows:
                found("inbox", f"ready task {task_id} ({element}) has no open inbox row")


def check_registers(session: Session) -> list[Finding]:
    """Run the register checks the installed domain registered; each message is one finding."""
    return [Finding(None, "register", message)
            for check in domain.current().register_checks for message in check(session)]


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "none"
