"""Notification events derived from what a unit of work changed: the history rows it wrote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from engine import definitions
from engine.errors import NotFound
from engine.store.history import HISTORY
from engine.store.models import ProcessInstance, TaskRow
from engine.store.pending import rows_of

# Every event a person can be told about; preferences mute them by these names.
EVENTS = ("task_assigned", "task_ready", "task_claimed", "task_reassigned", "deadline_near",
          "escalation", "instance_ended", "instance_rejected", "process")
_Row = TypeVar("_Row", ProcessInstance, TaskRow)
URGENT = frozenset({"escalation"})
# History kinds meaning "the process reached this element" (where pf:notify fires).
REACHED = frozenset({"task_ready", "event", "script", "gateway", "service", "timer_fired"})


@dataclass
class Event:
    """One thing to tell: who (users and/or every holder of roles) and about what."""

    kind: str
    instance_id: int | None
    at: datetime
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # e.g. whoever claimed the task is not told it was claimed
    task_id: str | None = None
    element_id: str | None = None
    role: str | None = None
    assignee: str | None = None
    actor: str | None = None
    urgent: bool = False
    due_at: datetime | None = None
    title_zh: str = ""
    title_en: str = ""
    message_zh: str = ""
    message_en: str = ""
    dedupe_key: str | None = None


@dataclass(frozen=True)
class HistoryRow:
    """A history row this unit added (queued or inserted without RETURNING, so it has no id)."""

    instance_id: int
    kind: str
    at: datetime
    actor: str | None = None
    element_id: str | None = None
    task_id: str | None = None
    message: str = ""
    details: dict[str, Any] | None = None


def changed_history(session: Session) -> list[HistoryRow]:
    """Return the history rows this unit wrote that may tell someone something (none after a rollback)."""
    # A unit writes a row for each step; those of kinds no event comes from are not worth an object.
    # (history.record queues exactly a HistoryRow's fields.)
    return [HistoryRow(**values) for values in rows_of(session, HISTORY) if values["kind"] in TOLD]


def held_row(session: Session, cls: type[_Row], key: Any) -> _Row | None:
    """Return the row the session holds under this primary key, else session.get's answer."""
    # The unit's own rows are in the identity map: looked up by their identity key, not through
    # session.get's option handling (most of the cost of telling a unit's events).
    found = session.identity_map.get((cls, (key,), None))
    return found if found is not None else session.get(cls, key)


def derive(session: Session, rows: list[HistoryRow]) -> list[Event]:
    """Turn a unit's history rows into notification events."""
    out: list[Event] = []
    models: dict[int, dict[str, Any]] = {}
    # A unit's rows are mostly about one instance: look it up once, not once per row.
    instances: dict[int, ProcessInstance | None] = {}
    for row in rows:
        if row.instance_id not in instances:
            instances[row.instance_id] = held_row(session, ProcessInstance, row.instance_id)
        inst = instances[row.instance_id]
        if inst is None:
            continue
        out.extend(_from_row(session, row, inst))
        if row.kind in REACHED and row.element_id:
            model = _model(session, inst, models)
            spec = model.get("notify", {}).get(row.element_id)
            if spec:
                out.append(process_event(spec, row, inst))
    return out


def _model(session: Session, inst: ProcessInstance, cache: dict[int, dict[str, Any]]) -> dict[str, Any]:
    seen = session.info.get(definitions.MODELS_SEEN, {})
    if inst.version_id in seen:
        return seen[inst.version_id]
    if inst.version_id not in cache:
        try:
            cache[inst.version_id] = definitions.compiled_by_id(session, inst.version_id).model
        except NotFound:
            cache[inst.version_id] = {}
    return cache[inst.version_id]


def _task_event(kind: str, row: HistoryRow, task: TaskRow, **kw: Any) -> Event:
    return Event(kind, row.instance_id, row.at, task_id=task.id, element_id=task.element_id, role=task.role,
                 assignee=task.assignee, actor=row.actor, due_at=task.due_at, title_zh=task.title_zh,
                 title_en=task.title_en, message_zh=task.instance_title, message_en=task.instance_title, **kw)


TASK_KINDS = frozenset({"task_ready", "task_claimed", "task_reassigned", "escalation"})
ENDED = frozenset({"completed", "terminated"})
# Every history kind an event may come from: built-in ones, and the elements where pf:notify fires.
TOLD = TASK_KINDS | ENDED | REACHED


def _from_row(session: Session, row: HistoryRow, inst: ProcessInstance) -> list[Event]:
    """Return the built-in events one history row stands for."""
    # Only these kinds speak of an inbox row (others carry ids of timers and gateways: no row to read).
    task = held_row(session, TaskRow, row.task_id) if row.task_id and row.kind in TASK_KINDS else None
    details = row.details or {}
    if task is not None:
        if row.kind == "task_ready":
            if details.get("assignee"):
                return [_task_event("task_assigned", row, task, users=(str(details["assignee"]),))]
            return [_task_event("task_ready", row, task, roles=(task.role,))]
        if row.kind == "task_claimed":
            return [_task_event("task_claimed", row, task, roles=(task.role,), exclude=(row.actor or "",))]
        if row.kind == "task_reassigned":
            events = [_task_event("task_reassigned", row, task, users=(str(details.get("to")),))]
            if details.get("from") and details.get("from") != details.get("to"):
                events.append(_task_event("task_claimed", row, task, users=(str(details["from"]),)))
            return events
        if row.kind == "escalation":
            who = {"users": (task.assignee,)} if task.assignee else {"roles": (task.role,)}
            return [_task_event("escalation", row, task, urgent=True, **who)]
    if row.kind in ENDED:
        kind = "instance_rejected" if inst.outcome == "rejected" else "instance_ended"
        owner = (inst.data or {}).get("owner")
        users = tuple(dict.fromkeys(u for u in (inst.started_by, owner) if isinstance(u, str) and u))
        return [Event(kind, inst.id, row.at, users=users, actor=row.actor, title_zh=inst.title,
                      title_en=inst.title, message_zh=inst.outcome or row.kind,
                      message_en=inst.outcome or row.kind)]
    return []


class _Blank(dict[str, Any]):
    """Template values: a name the case does not have renders empty instead of failing delivery."""

    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, values: dict[str, Any]) -> str:
    """Fill {name} placeholders from the case data (unknown names render empty)."""
    try:
        return template.format_map(_Blank(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template  # a stray brace: send the text as written rather than nothing


def process_event(spec: dict[str, Any], row: HistoryRow, inst: ProcessInstance) -> Event:
    """Return the event a pf:notify element defines, its message filled from the case."""
    values = {**(inst.data or {}), "title": inst.title, "instance_id": inst.id}
    zh = render(spec.get("message_zh", ""), values)
    en = render(spec.get("message_en") or spec.get("message_zh", ""), values)
    return Event("process", inst.id, row.at, users=tuple(spec.get("users", ())),
                 roles=tuple(spec.get("roles", ())),
                 task_id=row.task_id if row.kind == "task_ready" else None,
                 element_id=row.element_id, urgent=bool(spec.get("urgent")), title_zh=zh, title_en=en,
                 message_zh=inst.title, message_en=inst.title)
