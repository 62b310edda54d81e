"""Read side: whether the viewer may do an open task, why not, and who may (asked before any typing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import domain, separation
from engine.actor import Actor
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, User, UserRole
from engine.store.queries import TaskView, _models_by_hash, held_cases

CODES = ("closed", "case_suspended", "case_error", "case_ended", "role", "assigned", "not_starter",
         "not_performer_of")


@dataclass(frozen=True)
class Block:
    """Why someone may not complete a task: a code of CODES and its detail (a person, a step, a status)."""

    code: str
    detail: str = ""


@dataclass(frozen=True)
class _Case:
    status: str
    started_by: str
    content_hash: str
    model: dict[str, Any] | None = None  # known without a query (the session's own unit loaded it)


def _cases(session: Session, ids: set[int]) -> dict[int, _Case]:
    held = held_cases(session, ids)
    if held is not None:
        return {i: _Case(inst.status, inst.started_by, "", model) for i, (inst, model) in held.items()}
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.status, ProcessInstance.started_by,
                                  ProcessVersion.content_hash)
                           .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
                           .where(ProcessInstance.id.in_(ids))).all()
    return {i: _Case(status, starter, digest) for i, status, starter, digest in rows}


def _model(case: _Case, by_hash: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return case.model if case.model is not None else by_hash.get(case.content_hash, {})


def _performers(session: Session, ids: set[int]) -> dict[int, dict[str, str]]:
    """Return per instance who last completed each step (the engine's performed_by, from history)."""
    out: dict[int, dict[str, str]] = {}
    if not ids:
        return out
    for instance_id, element, who in session.execute(
            select(HistoryEvent.instance_id, HistoryEvent.element_id, HistoryEvent.actor)
            .where(HistoryEvent.instance_id.in_(ids), HistoryEvent.kind == "task_completed")
            .order_by(HistoryEvent.id)):
        if element and who:
            out.setdefault(instance_id, {})[element] = who
    return out


class Rules:
    """The separation and status facts of some tasks' cases, read in three queries for a whole page."""

    def __init__(self, session: Session, tasks: Sequence[TaskView]) -> None:
        self.cases = _cases(session, {t.instance_id for t in tasks}) if tasks else {}
        models = _models_by_hash(session, {c.content_hash for c in self.cases.values() if c.model is None})
        self.specs = {t.id: _model(self.cases[t.instance_id], models).get("tasks", {}).get(t.name, {})
                      for t in tasks if t.instance_id in self.cases}
        needs = {t.instance_id for t in tasks if self.specs.get(t.id, {}).get("not_performer_of")}
        self.performed = _performers(session, needs)

    def separation(self, task: TaskView, username: str) -> Block | None:
        """Return the separation-of-duty rule that keeps this person from the task, or None."""
        case = self.cases.get(task.instance_id)
        if case is None:
            return None
        found = separation.breach(self.specs.get(task.id, {}), case.started_by, username,
                                  self.performed.get(task.instance_id, {}))
        return Block(*found) if found is not None else None

    def block(self, task: TaskView, actor: Actor) -> Block | None:
        """Return why the actor may not complete the task now, or None when they may."""
        if task.status != "open":
            return Block("closed", task.status)
        case = self.cases.get(task.instance_id)
        status = case.status if case is not None else "completed"
        if status != "running":
            code = {"suspended": "case_suspended", "error": "case_error"}.get(status, "case_ended")
            return Block(code, status)
        if task.role not in domain.current().effective_roles(actor.roles):
            return Block("role", task.role)
        if task.assignee and task.assignee != actor.username:
            return Block("assigned", task.assignee)
        return self.separation(task, actor.username)


def blocks(session: Session, tasks: Sequence[TaskView], actor: Actor) -> dict[str, Block | None]:
    """Return, per task id, why the actor may not complete it (None: they may)."""
    rules = Rules(session, tasks)
    return {t.id: rules.block(t, actor) for t in tasks}


def eligible_people(session: Session, task: TaskView) -> list[str]:
    """Return the active users who may do this task (role held or implied, no separation rule), sorted."""
    acting = domain.current().acting_as(task.role)
    rules = Rules(session, [task])
    found = session.scalars(select(User.username).join(UserRole, UserRole.user_id == User.id)
                            .where(UserRole.role.in_(sorted(acting)), User.active.is_(True))
                            .distinct().order_by(User.username))
    return [u for u in found if rules.separation(task, u) is None]
