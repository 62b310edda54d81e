"""The inbox projection: ready user tasks as indexed rows, kept in step with the workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import instance_dict

from engine import domain
from engine.context import StepContext
from engine.errors import ProcessFailure
from engine.notify.directory import MISSING, user_roles_kept
from engine.spiff.tasks import due_time, ready_user_tasks
from engine.store import history
from engine.store.locking import token_at_lock
from engine.store.models import TaskRow, User, UserRole
from engine.store.prepared import PreparedRead
from engine.store.unit_rows import flush_pending

USER_ROLES = PreparedRead(select(User.id, UserRole.role).outerjoin(UserRole, UserRole.user_id == User.id)
                      .where(User.username == bindparam("username"), User.active.is_(True)))


def user_roles(session: Session, username: str) -> frozenset[str] | None:
    """Return the roles of an active user, or None when there is no such user."""
    # One plain query: loading the User entity and its roles took two per call, twice per step.
    # On the unit's connection, past the ORM: reading users needs no autoflush of the unit's rows, which
    # would send them through the ORM's flush instead of the unit's own writes.
    flush_pending(session, User, UserRole)  # before the token: a flush of users makes it stale
    connection = session.connection()
    # Inside a unit, the roles kept on this connection at the token its lock read are the database's:
    # no read at all (a changed user or role changed the token, and that lock read the new one).
    token = token_at_lock(session)
    if token is None:
        held = _held_roles(connection, username)
    else:
        kept = user_roles_kept(connection)
        held = kept.at(username, token)
        if held is MISSING:
            held = _held_roles(connection, username)
            # Read after the token in the same transaction: if anything changed in between, the database
            # holds another token by now and the next lock reads it, so this is never taken as newer.
            kept.put(username, token, held)
    return None if held is None else domain.current().effective_roles(held)


def _held_roles(connection: Connection, username: str) -> frozenset[str] | None:
    """Read the roles an active user holds (not those they imply), or None when there is no such user."""
    rows = USER_ROLES.rows(connection, {"username": username})
    return None if not rows else frozenset(role for _, role in rows if role)


def roles_in_unit(ctx: StepContext, username: str) -> frozenset[str] | None:
    """Return a user's roles, read once per unit of work (a picked user is checked, then assigned)."""
    if username not in ctx.roles_seen:
        ctx.roles_seen[username] = user_roles(ctx.session, username)
    return ctx.roles_seen[username]


def _resolve(ctx: StepContext, task: Any, spec: dict[str, Any]) -> tuple[str, str | None]:
    """Evaluate a task's role and assignee expressions, checking the user holds the role."""
    element = task.task_spec.bpmn_id
    role = spec.get("role")
    try:
        if spec.get("role_expr"):
            role = ctx.evaluate(spec["role_expr"], task.data)
        assignee = ctx.evaluate(spec["assignee_expr"], task.data) if spec.get("assignee_expr") else None
    except Exception as exc:
        raise ProcessFailure(f"{element}: cannot work out who does this task: {exc}",
                             instance_id=ctx.instance.id, element_id=element) from exc
    if not isinstance(role, str) or not domain.current().is_known_role(role):
        raise ProcessFailure(f"{element}: role {role!r} is not a known role", instance_id=ctx.instance.id,
                             element_id=element)
    if assignee is not None:
        roles = roles_in_unit(ctx, str(assignee))
        if roles is None:
            raise ProcessFailure(f"{element}: assignee {assignee!r} is not an active user",
                                 instance_id=ctx.instance.id, element_id=element)
        if role not in roles:
            raise ProcessFailure(f"{element}: assignee {assignee!r} does not hold role {role}",
                                 instance_id=ctx.instance.id, element_id=element)
        assignee = str(assignee)
    return str(role), assignee


def task_spec_model(model: dict[str, Any], task: Any) -> dict[str, Any]:
    """Return the deploy-time model of a user task (a plain default for manual tasks)."""
    element = task.task_spec.bpmn_id
    spec = model.get("tasks", {}).get(element)
    if spec is not None:
        return dict(spec)
    lane = getattr(task.task_spec, "lane", None) or ""
    words = lane.split()
    return {"title_zh": task.task_spec.bpmn_name or element, "title_en": task.task_spec.bpmn_name or element,
            "role": words[-1] if words else None, "form": None}


def sync_inbox(ctx: StepContext, workflow: Any, model: dict[str, Any], escalated: list[str],
               known_rows: list[TaskRow] | None = None) -> list[TaskRow]:
    """Make the open task rows match the workflow's ready user tasks; return rows created.

    `known_rows` are the instance's open rows read under the unit's lock (saves a query); rows this unit
    closed since are skipped.
    """
    session, inst, now = ctx.session, ctx.instance, ctx.now
    ready = {str(t.id): t for t in ready_user_tasks(workflow)}
    if known_rows is None:
        known_rows = list(session.scalars(
            select(TaskRow).where(TaskRow.instance_id == inst.id, TaskRow.status == "open")))
    open_rows = {r.id: r for r in known_rows if r.status == "open"}
    for task_id, row in open_rows.items():
        if task_id not in ready:
            row.status = "cancelled"
            row.completed_at = now
            history.record(session, inst.id, "task_cancelled", now, element_id=row.element_id,
                           task_id=task_id, message="no longer needed by the process")
    created: list[TaskRow] = []
    for task_id, task in ready.items():
        due = due_time(task)
        existing = open_rows.get(task_id)
        if existing is None:
            spec = task_spec_model(model, task)
            role, assignee = _resolve(ctx, task, spec)
            row = _new_row(session, {
                "id": task_id, "instance_id": inst.id, "process_key": inst.process_key,
                "element_id": task.task_spec.bpmn_id, "title_zh": spec["title_zh"],
                "title_en": spec["title_en"], "role": role, "assignee": assignee,
                "assigned_by_process": assignee is not None, "status": "open", "created_at": now,
                "instance_title": inst.title, "due_at": due, "overdue": task_id in escalated})
            created.append(row)
            history.record(session, inst.id, "task_ready", now, element_id=row.element_id,
                           task_id=task_id, details={"role": role, "assignee": assignee})
            continue
        # A fired deadline leaves no waiting timer: keep showing when the task was due. Set only on a
        # change: setting an attribute marks the row changed, and a changed row is an UPDATE.
        if due is not None and due != existing.due_at:
            existing.due_at = due
        if task_id in escalated and not existing.overdue:
            existing.overdue = True
    still_open = [*(r for i, r in open_rows.items() if i in ready), *created]
    due_at = instance_due(still_open)
    if due_at != inst.due_at:  # set only on a change: each set is a column in the unit's UPDATE
        inst.due_at = due_at
    session.info.setdefault(LEFT_OPEN, {})[inst.id] = still_open
    # The session holds clean rows weakly: keep the unit's own until it ends, so reading them again
    # (notifications at commit) finds them in the session instead of selecting them one by one.
    session.info.setdefault(UNIT_ROWS, []).extend([*known_rows, *created])
    return created


def _new_row(session: Session, values: dict[str, Any]) -> TaskRow:
    """Return a new task row holding these values, added to the session (to be inserted with the unit)."""
    # Set in its __dict__, not through the constructor: each keyword fires the ORM's attribute events,
    # five times the cost, for change tracking a pending row does not use (its INSERT takes every value
    # its __dict__ holds, from engine.store.unit_rows or from the ORM's flush alike).
    row = TaskRow()
    instance_dict(row).update(values)
    session.add(row)
    return row


# session.info key: per instance id, the open task rows the session's latest unit on it left.
LEFT_OPEN = "engine.open_tasks"
UNIT_ROWS = "engine.unit_task_rows"  # the task rows the transaction's units touched


def left_open(session: Session, instance_id: int) -> list[TaskRow]:
    """Return an instance's open task rows: as this session's latest unit on it left them, else read."""
    known = session.info.get(LEFT_OPEN, {}).get(instance_id)
    if known is not None:
        return [r for r in known if r.status == "open"]
    return list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                      TaskRow.status == "open").order_by(TaskRow.created_at)))


@event.listens_for(Session, "after_rollback")
def _forget_left_open(session: Session) -> None:
    # Rows a rolled-back unit created or closed never happened.
    session.info.pop(LEFT_OPEN, None)


@event.listens_for(Session, "after_transaction_end")
def _release_unit_rows(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(UNIT_ROWS, None)


def refresh_due(session: Session, inst: Any) -> None:
    """Recompute the instance's due time from its open rows (when a failure stopped the sync)."""
    inst.due_at = instance_due(list(session.scalars(
        select(TaskRow).where(TaskRow.instance_id == inst.id, TaskRow.status == "open"))))


def instance_due(open_rows: list[TaskRow]) -> datetime | None:
    """Return when the instance is late: its open tasks' earliest due time (creation, once escalated)."""
    # An escalated task may already show its next deadline; it is late all the same.
    times = [r.created_at if r.overdue else r.due_at for r in open_rows]
    return min((t for t in times if t is not None), default=None)


def role_holders(session: Session, role: str) -> list[str]:
    """Return usernames of active users holding a role, for user pickers."""
    wanted = sorted(domain.current().acting_as(role))  # higher ranks do it too
    return list(session.scalars(
        select(User.username).join(UserRole).where(UserRole.role.in_(wanted), User.active.is_(True))
        .order_by(User.username).distinct()))
