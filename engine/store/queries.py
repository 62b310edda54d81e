"""Read side: named inbox and instance queries returning plain views, never workflows or ORM rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, inspect, or_, select
from sqlalchemy.orm import Session, defer

from engine import definitions, domain
from engine.errors import Forbidden, NotFound
from engine.runtime import Actor
from engine.store import case_search
from engine.store.inbox import left_open
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, TaskRow

INSTANCE_MAPPER = inspect(ProcessInstance)

SCOPES = ("mine", "group", "all")
TASK_STATUSES = ("open", "completed", "cancelled")
INSTANCE_STATUSES = ("running", "suspended", "error", "completed", "terminated")


@dataclass(frozen=True)
class Page:
    """One page of a list with the total across all pages."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Return how many pages there are."""
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class TaskView:
    """A task as the inbox shows it."""

    id: str
    instance_id: int
    process_key: str
    name: str
    title_zh: str
    title_en: str
    role: str
    assignee: str | None
    assigned_by_process: bool
    status: str
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    claimed_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    instance_title: str
    form: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class InstanceView:
    """An instance as lists and detail pages show it."""

    id: int
    process_key: str
    version: int
    version_id: int
    status: str
    outcome: str | None
    title: str
    unit: str | None
    started_by: str
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    next_wakeup_at: datetime | None
    error: dict[str, Any] | None
    data: dict[str, Any] = field(default_factory=dict)
    open_tasks: list[TaskView] = field(default_factory=list)


def task_view(row: TaskRow, now: datetime, form: dict[str, Any] | None = None) -> TaskView:
    """Return the view of one task row; overdue when flagged or past due while open."""
    overdue = bool(row.overdue or (row.status == "open" and row.due_at is not None and row.due_at < now))
    return TaskView(row.id, row.instance_id, row.process_key, row.element_id, row.title_zh, row.title_en,
                    row.role, row.assignee, row.assigned_by_process, row.status, row.created_at, row.due_at,
                    overdue, row.claimed_at, row.completed_at, row.completed_by, row.instance_title, form)


def _paged_ids_first(session: Session, query: Select[Any], entity: Any, page: int, per_page: int,
                     options: Sequence[Any] = (), one_pass: bool = False) -> tuple[list[Any], int]:
    """Page rows in two steps: the page's ids (from a covering index), then those rows.

    With one_pass, a window count gives the page and the total in one scan; worth it only where the
    index covers the ids too (tasks), else every match costs a heap visit instead of 25.
    """
    # A role with thousands of open tasks, or thousands of overdue cases: filtering and sorting ids in
    # the index spares a heap visit per candidate row; only the page's rows are then read.
    page, per_page = max(1, page), max(1, min(per_page, 200))
    offset = (page - 1) * per_page
    count = select(func.count()).select_from(query.order_by(None).subquery())
    if one_pass:
        matches = session.execute(query.with_only_columns(entity.id, func.count().over())
                                  .limit(per_page).offset(offset)).all()
        ids = [m[0] for m in matches]
        # Nothing on this page (none at all, or past the last page): count on its own.
        total = int(matches[0][1]) if matches else session.scalar(count) or 0
    else:
        total = session.scalar(count) or 0
        ids = list(session.scalars(query.with_only_columns(entity.id).limit(per_page).offset(offset))) \
            if total > offset else []
    rows: Any = session.scalars(select(entity).options(*options).where(entity.id.in_(ids))) if ids else []
    found = {r.id: r for r in rows}
    return [found[i] for i in ids if i in found], total


# Deploy-time models by content hash: a version's content never changes, so neither does its model.
_MODELS: dict[str, dict[str, Any]] = {}
_MODELS_KEPT = 256


def _models_by_hash(session: Session, hashes: set[str]) -> dict[str, dict[str, Any]]:
    """Return the models of these content hashes, reading from the database only those not yet known."""
    missing = hashes - _MODELS.keys()
    if missing:
        if len(_MODELS) + len(missing) > _MODELS_KEPT:
            _MODELS.clear()
        _MODELS.update(session.execute(select(ProcessVersion.content_hash, ProcessVersion.model)
                                       .where(ProcessVersion.content_hash.in_(missing))).all())
    return {h: _MODELS.get(h, {}) for h in hashes}


def held_cases(session: Session, ids: set[int]) -> dict[int, tuple[ProcessInstance, dict[str, Any]]] | None:
    """Return these instances with their versions' models when the session holds them all, else None.

    Right after a unit of work the session holds its instance and the model the unit loaded: the
    answer to the command needs no query for either.
    """
    seen = session.info.get(definitions.MODELS_SEEN, {})
    out: dict[int, tuple[ProcessInstance, dict[str, Any]]] = {}
    for instance_id in ids:
        inst = session.identity_map.get(INSTANCE_MAPPER.identity_key_from_primary_key((instance_id,)))
        if not isinstance(inst, ProcessInstance) or inst.version_id not in seen:
            return None
        out[instance_id] = (inst, seen[inst.version_id])
    return out


def forms_of(session: Session, rows: Sequence[TaskRow]) -> dict[str, dict[str, Any] | None]:
    """Return each row's form definition, from the deploy-time model of its instance's version."""
    ids = {r.instance_id for r in rows}
    if not ids:
        return {}
    held = held_cases(session, ids)
    if held is not None:
        return {r.id: held[r.instance_id][1].get("tasks", {}).get(r.element_id, {}).get("form") for r in rows}
    hashes: dict[int, str] = dict(session.execute(
        select(ProcessInstance.id, ProcessVersion.content_hash)
        .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
        .where(ProcessInstance.id.in_(ids))).all())
    models = _models_by_hash(session, set(hashes.values()))
    return {r.id: models.get(hashes.get(r.instance_id, ""), {}).get("tasks", {}).get(r.element_id, {})
            .get("form") for r in rows}


def _task_status(status: str) -> ColumnElement[bool]:
    """Return "the task has this status", stating the predicate of the partial indexes serving it."""
    # Completing or cancelling a task sets completed_at: the open-task indexes hold the rows without it,
    # the finished-work ones the rows with it (models.TaskRow).
    done = TaskRow.completed_at.is_(None) if status == "open" else TaskRow.completed_at.is_not(None)
    return (TaskRow.status == status) & done


def list_tasks(session: Session, actor: Actor, now: datetime, *, scope: str = "mine",
               status: str = "open", instance_id: int | None = None, process_key: str | None = None,
               overdue: bool | None = None, page: int = 1, per_page: int = 25,
               with_forms: bool = True, unclaimed: bool = False) -> Page:
    """List tasks for an actor: mine, my roles' unclaimed ones (group), or all (admins).

    The group scope also lists the actor's own claimed tasks unless unclaimed is set (the web inbox
    shows those under "mine" only, so no task is counted twice).
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if status not in TASK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(TASK_STATUSES)}")
    query = select(TaskRow).where(_task_status(status))
    roles = domain.current().effective_roles(actor.roles)
    if scope == "mine":
        mine = TaskRow.completed_by == actor.username if status == "completed" else \
            TaskRow.assignee == actor.username
        query = query.where(mine)
    elif scope == "group":
        query = query.where(TaskRow.role.in_(sorted(roles)),
                            TaskRow.assignee.is_(None) if unclaimed else
                            or_(TaskRow.assignee.is_(None), TaskRow.assignee == actor.username))
    elif not (roles & domain.current().observers):
        raise Forbidden("only admins and managers may list all tasks")
    if instance_id is not None:
        query = query.where(TaskRow.instance_id == instance_id)
    if process_key:
        query = query.where(TaskRow.process_key == process_key)
    if overdue is True:
        query = query.where(or_(TaskRow.overdue.is_(True), TaskRow.due_at < now))
    elif overdue is False:
        query = query.where(TaskRow.overdue.is_(False), or_(TaskRow.due_at.is_(None), TaskRow.due_at >= now))
    # Open work sorts by deadline (undated last); finished work newest first.
    if status == "open":
        # NULLS LAST (not `due_at IS NULL` first): PostgreSQL can then read a role's inbox in index order.
        query = query.order_by(TaskRow.due_at.asc().nulls_last(), TaskRow.created_at, TaskRow.id)
    else:
        query = query.order_by(TaskRow.completed_at.desc(), TaskRow.id)
    rows, total = _paged_ids_first(session, query, TaskRow, page, per_page, one_pass=True)
    forms = forms_of(session, rows) if with_forms else {}
    return Page([task_view(r, now, forms.get(r.id)) for r in rows], total, max(1, page), per_page)


def count_tasks(session: Session, actor: Actor, now: datetime) -> dict[str, int]:
    """Return inbox counts: mine, group, overdue among them."""
    roles = sorted(domain.current().effective_roles(actor.roles))
    base = select(func.count()).select_from(TaskRow).where(_task_status("open"))
    mine = base.where(TaskRow.assignee == actor.username)
    group = base.where(TaskRow.role.in_(roles), TaskRow.assignee.is_(None))
    late = or_(TaskRow.overdue.is_(True), TaskRow.due_at < now)
    return {
        "mine": session.scalar(mine) or 0,
        "group": session.scalar(group) or 0,
        "overdue": session.scalar(base.where(late, or_(TaskRow.assignee == actor.username,
                                                       TaskRow.role.in_(roles)))) or 0,
    }


def get_task(session: Session, task_id: str, actor: Actor, now: datetime) -> TaskView:
    """Return one task the actor may see (their role, theirs, their crew's, or an observer)."""
    row = session.get(TaskRow, task_id)
    if row is None:
        raise NotFound(f"task {task_id} does not exist", task_id=task_id)
    served = domain.current()
    roles = served.effective_roles(actor.roles)
    if not (row.role in roles or actor.username in (row.assignee, row.completed_by) or may_observe(actor)
            or row.role in served.dispatched(roles)):
        raise Forbidden(f"task {task_id} belongs to role {row.role}", task_id=task_id)
    return task_view(row, now, forms_of(session, [row]).get(row.id))


def may_observe(actor: Actor) -> bool:
    """Tell whether the actor may read every instance."""
    served = domain.current()
    return bool(served.effective_roles(actor.roles) & served.observers)


def _visible(session: Session, inst: ProcessInstance, actor: Actor) -> bool:
    """An instance is visible to observers, its starter, whoever holds or did a task in it, and the
    role of an unclaimed open task; a case assigned to a colleague is not the role's to read."""
    if may_observe(actor) or inst.started_by == actor.username:
        return True
    roles = sorted(domain.current().effective_roles(actor.roles))
    return bool(session.scalar(select(func.count()).select_from(TaskRow).where(
        TaskRow.instance_id == inst.id,
        or_(TaskRow.assignee == actor.username, TaskRow.completed_by == actor.username,
            (TaskRow.status == "open") & TaskRow.assignee.is_(None) & TaskRow.role.in_(roles)))))


def _version_number(session: Session, version_id: int) -> int:
    """Return a version's number; version rows never change, so the session remembers them."""
    # Loading the ProcessVersion entity per listed instance re-read its BPMN XML and model every time.
    known: dict[int, int] = session.info.setdefault(definitions.VERSION_NUMBERS, {})
    if version_id not in known:
        known[version_id] = session.scalar(select(ProcessVersion.version)
                                           .where(ProcessVersion.id == version_id)) or 0
    return known[version_id]


def instance_view(session: Session, inst: ProcessInstance, now: datetime, *, detail: bool = False
                  ) -> InstanceView:
    """Return the view of an instance; with detail, its data and open tasks."""
    tasks: list[TaskView] = []
    if detail:
        # As the session's latest unit on it left them (read from the database otherwise).
        rows = sorted(left_open(session, inst.id), key=lambda r: r.created_at)
        forms = forms_of(session, rows)
        tasks = [task_view(r, now, forms.get(r.id)) for r in rows]
    return InstanceView(inst.id, inst.process_key, _version_number(session, inst.version_id), inst.version_id,
                        inst.status, inst.outcome, inst.title, inst.unit, inst.started_by, inst.started_at,
                        inst.updated_at, inst.ended_at, inst.next_wakeup_at, inst.error,
                        dict(inst.data or {}) if detail else {}, tasks)


def get_instance(session: Session, instance_id: int, actor: Actor, now: datetime, *,
                 acted: bool = False) -> InstanceView:
    """Return one instance with data and open tasks, if the actor may see it.

    `acted`: the actor has just started or worked on it (or administered it), which makes it visible.
    """
    inst = session.get(ProcessInstance, instance_id)
    if inst is None:
        raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
    if not acted and not _visible(session, inst, actor):
        raise Forbidden(f"instance {instance_id} is not visible to you", instance_id=instance_id)
    return instance_view(session, inst, now, detail=True)


def search_instances(session: Session, actor: Actor, now: datetime, *, process_key: str | None = None,
                     status: str | None = None, version: int | None = None, started_by: str | None = None,
                     started_from: datetime | None = None, started_to: datetime | None = None,
                     unit: str | None = None, overdue: bool | None = None, text: str | None = None,
                     q: str | None = None, sort: str = "started", mine: bool = False,
                     page: int = 1, per_page: int = 25) -> Page:
    """Search instances (observers see all; others the cases they started or work on).

    q is the one search box: case number, title, unit, phone and names in the case data, staff names;
    sort is one of case_search.SORTS; mine keeps the cases the actor started.
    """
    if status is not None and status not in INSTANCE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(INSTANCE_STATUSES)}")
    if sort not in case_search.SORTS:
        raise ValueError(f"sort must be one of {', '.join(case_search.SORTS)}")
    query = select(ProcessInstance)
    if mine:
        query = query.where(ProcessInstance.started_by == actor.username)
    elif not may_observe(actor):
        query = query.where(case_search.visible_to(actor))
    if q and q.strip():
        query = query.where(case_search.matching(q))
    if process_key:
        query = query.where(ProcessInstance.process_key == process_key)
    if status:
        query = query.where(ProcessInstance.status == status)
    if version is not None:
        query = query.join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id).where(
            ProcessVersion.version == version)
    if started_by:
        query = query.where(ProcessInstance.started_by == started_by)
    if started_from:
        query = query.where(ProcessInstance.started_at >= started_from)
    if started_to:
        query = query.where(ProcessInstance.started_at < started_to)
    if unit:
        query = query.where(ProcessInstance.unit == unit)
    if text:
        query = query.where(ProcessInstance.title.contains(text, autoescape=True))
    if overdue is True:
        query = query.where(ProcessInstance.due_at <= now)
    elif overdue is False:
        query = query.where(or_(ProcessInstance.due_at.is_(None), ProcessInstance.due_at > now))
    query = query.order_by(*case_search.order_by(sort))
    # A list shows no state or data: leave the blobs in the table.
    rows, total = _paged_ids_first(session, query, ProcessInstance, page, per_page,
                                   (defer(ProcessInstance.state), defer(ProcessInstance.data)))
    return Page([instance_view(session, r, now) for r in rows], total, max(1, page), per_page)


def open_tasks_of(session: Session, instance_ids: Sequence[int], now: datetime) -> dict[int, list[TaskView]]:
    """Return the open tasks of some instances (a list page's current steps), soonest deadline first."""
    out: dict[int, list[TaskView]] = {i: [] for i in instance_ids}
    if instance_ids:
        for row in session.scalars(select(TaskRow).where(TaskRow.instance_id.in_(list(instance_ids)),
                                                         TaskRow.status == "open")
                                   .order_by(TaskRow.due_at.asc().nulls_last(), TaskRow.created_at)):
            out[row.instance_id].append(task_view(row, now))
    return out


def instance_history(session: Session, instance_id: int, actor: Actor, now: datetime) -> list[dict[str, Any]]:
    """Return an instance's history rows as dicts, oldest first."""
    get_instance(session, instance_id, actor, now)
    rows = session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == instance_id)
                           .order_by(HistoryEvent.id))
    return [{"id": r.id, "at": r.at, "kind": r.kind, "actor": r.actor, "element_id": r.element_id,
             "task_id": r.task_id, "message": r.message, "details": r.details} for r in rows]


def element_visits(history_rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Count per element how often it completed, how many are active now, how often it failed."""
    visits: dict[str, dict[str, int]] = {}
    for row in history_rows:
        element = row.get("element_id")
        if not element:
            continue
        entry = visits.setdefault(element, {"completed": 0, "active": 0, "failed": 0})
        kind = row["kind"]
        if kind in ("task_completed", "gateway", "script", "event", "timer_fired"):
            entry["completed"] += 1
        if kind == "task_ready":
            entry["active"] += 1
        elif kind in ("task_completed", "task_cancelled"):
            entry["active"] = max(0, entry["active"] - 1)
        elif kind == "error":
            entry["failed"] += 1
    return visits


def process_list(session: Session) -> list[dict[str, Any]]:
    """Return each process with its versions and how many instances run on each."""
    counts = {version_id: n for version_id, n in session.execute(
        select(ProcessInstance.version_id, func.count())
        .where(ProcessInstance.status.in_(("running", "suspended", "error")))
        .group_by(ProcessInstance.version_id))}
    out: dict[str, dict[str, Any]] = {}
    for v in session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_key,
                                                             ProcessVersion.version.desc())):
        entry = out.setdefault(v.process_key, {"key": v.process_key, "name_zh": v.name_zh,
                                               "name_en": v.name_en, "versions": []})
        entry["versions"].append({"version": v.version, "id": v.id, "deployed_at": v.deployed_at,
                                  "deployed_by": v.deployed_by, "content_hash": v.content_hash,
                                  "running": counts.get(v.id, 0)})
    return list(out.values())


@dataclass(frozen=True)
class VersionView:
    """A deployed process version as pages and the API show it (its BPMN and deploy-time model)."""

    id: int
    process_key: str
    version: int
    name_zh: str
    name_en: str
    content_hash: str
    deployed_at: datetime
    deployed_by: str | None
    bpmn_xml: str
    model: dict[str, Any]


def version_view(row: ProcessVersion) -> VersionView:
    """Return the view of one version row."""
    return VersionView(row.id, row.process_key, row.version, row.name_zh, row.name_en, row.content_hash,
                       row.deployed_at, row.deployed_by, row.bpmn_xml, dict(row.model or {}))


def _one_version(session: Session, *where: Any) -> VersionView | None:
    """Return the newest version matching the conditions, or None."""
    row = session.scalar(select(ProcessVersion).where(*where)
                         .order_by(ProcessVersion.version.desc()).limit(1))
    return version_view(row) if row is not None else None


def version_by_id(session: Session, version_id: int) -> VersionView | None:
    """Return the version with this row id, or None."""
    return _one_version(session, ProcessVersion.id == version_id)


def version_by_number(session: Session, process_key: str, number: int) -> VersionView | None:
    """Return version `number` of a process, or None."""
    return _one_version(session, ProcessVersion.process_key == process_key, ProcessVersion.version == number)


def version_by_hash(session: Session, process_key: str, content_hash: str) -> VersionView | None:
    """Return the version of a process with this content hash, or None."""
    return _one_version(session, ProcessVersion.process_key == process_key,
                        ProcessVersion.content_hash == content_hash)


def newest_version(session: Session, process_key: str) -> VersionView | None:
    """Return the newest deployed version of a process, or None when it was never deployed."""
    return _one_version(session, ProcessVersion.process_key == process_key)


def latest_version(session: Session, process_key: str) -> VersionView:
    """Return the newest deployed version of a process; raise NotFound when it was never deployed."""
    found = newest_version(session, process_key)
    if found is None:
        raise NotFound(f"process '{process_key}' is not deployed")
    return found


def instance_version(session: Session, instance_id: int) -> VersionView | None:
    """Return the version an instance runs on, or None when there is no such instance."""
    owner = select(ProcessInstance.version_id).where(ProcessInstance.id == instance_id).scalar_subquery()
    return _one_version(session, ProcessVersion.id == owner)


def newest_version_number(session: Session, process_key: str) -> int | None:
    """Return the newest version number of a process, or None when it was never deployed."""
    return session.scalar(select(func.max(ProcessVersion.version))
                          .where(ProcessVersion.process_key == process_key))


def process_names(session: Session) -> dict[str, tuple[str, str]]:
    """Return each deployed process's (Chinese, English) name from its newest version."""
    rows = session.execute(select(ProcessVersion.process_key, ProcessVersion.name_zh, ProcessVersion.name_en)
                           .order_by(ProcessVersion.process_key, ProcessVersion.version))
    return {key: (zh, en) for key, zh, en in rows}


def instance_status(session: Session, instance_id: int) -> str | None:
    """Return an instance's status, or None when there is no such instance."""
    return session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))


def count_instances(session: Session) -> int:
    """Return how many instances exist."""
    return session.scalar(select(func.count()).select_from(ProcessInstance)) or 0
