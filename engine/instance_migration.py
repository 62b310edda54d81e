"""Batch migration of running instances from one version of a process to another, one unit per instance."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import definitions, domain
from engine.actor import ADMIN, Actor
from engine.calendar import BusinessCalendar
from engine.context import StepContext
from engine.errors import Forbidden, InvalidData, NotFound
from engine.spiff.migration import SpecMove, apply_move, plan_move
from engine.spiff.state import STATE_FORMAT, dump_state, load_state
from engine.spiff.tasks import wakeup_time
from engine.store import history
from engine.store.inbox import user_roles
from engine.store.models import ProcessInstance, ProcessVersion, TaskRow
from engine.store.unit_of_work import run_unit

# Who may move cases between versions.
MIGRATORS = frozenset({ADMIN, "process_owner"})
# Statuses a case may be moved in: a finished one has nothing to move; one in error is retried first.
MOVABLE = ("running", "suspended")


@dataclass(frozen=True)
class MigrationRequest:
    """Which cases of which process move from which version to which, and how elements map."""

    process_key: str
    from_version: int
    to_version: int
    mapping: Mapping[str, str] = field(default_factory=dict)
    instance_ids: Sequence[int] | None = None  # None: every movable case of the source version
    started_before: datetime | None = None
    status: str | None = None  # one of MOVABLE; None: both


@dataclass
class InstanceOutcome:
    """One case's verdict: whether it can move (dry run) or moved, and why not."""

    instance_id: int
    can_move: bool
    moved: bool = False
    moves: dict[str, str] = field(default_factory=dict)  # waiting element → element in the target
    reasons: list[dict[str, str]] = field(default_factory=list)  # {"element_id", "message"}

    def to_dict(self) -> dict[str, Any]:
        """Describe the verdict for JSON."""
        return {"instance_id": self.instance_id, "can_move": self.can_move, "moved": self.moved,
                "moves": self.moves, "reasons": self.reasons}


@dataclass
class MigrationReport:
    """The verdicts of a batch, in instance order."""

    process_key: str
    from_version: int
    to_version: int
    dry_run: bool
    outcomes: list[InstanceOutcome]

    @property
    def moved(self) -> int:
        """Count the cases moved."""
        return sum(o.moved for o in self.outcomes)

    @property
    def refused(self) -> int:
        """Count the cases that cannot move."""
        return sum(not o.can_move for o in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        """Describe the batch for JSON."""
        return {"process_key": self.process_key, "from_version": self.from_version,
                "to_version": self.to_version, "dry_run": self.dry_run, "total": len(self.outcomes),
                "movable": sum(o.can_move for o in self.outcomes), "moved": self.moved,
                "refused": self.refused, "instances": [o.to_dict() for o in self.outcomes]}


@dataclass(frozen=True)
class _Versions:
    key: str
    source_id: int
    source_number: int
    target_id: int
    target_number: int
    source_compiled: definitions.CompiledProcess
    target_compiled: definitions.CompiledProcess


def _version(session: Session, key: str, number: int, name: str) -> ProcessVersion:
    row = session.scalar(select(ProcessVersion).where(ProcessVersion.process_key == key,
                                                      ProcessVersion.version == number))
    if row is None:
        raise NotFound(f"{name}: process '{key}' has no version {number}")
    return row


def _versions(session: Session, request: MigrationRequest) -> _Versions:
    """Load both versions and refuse a mapping that names elements neither version has."""
    if request.from_version == request.to_version:
        raise InvalidData("nothing to migrate", {"to_version": ["must differ from from_version"]})
    source = _version(session, request.process_key, request.from_version, "from_version")
    target = _version(session, request.process_key, request.to_version, "to_version")
    src, tgt = definitions.compiled_version(source), definitions.compiled_version(target)
    problems: dict[str, list[str]] = {}
    for old, new in request.mapping.items():
        if not isinstance(old, str) or not isinstance(new, str):
            problems.setdefault("mapping", []).append("element ids must be strings")
            continue
        if old not in src.spec.task_specs:
            problems.setdefault(f"mapping.{old}", []).append(
                f"version {source.version} has no element {old!r}")
        if new not in tgt.spec.task_specs:
            problems.setdefault(f"mapping.{old}", []).append(
                f"version {target.version} has no element {new!r}")
    if request.status is not None and request.status not in MOVABLE:
        problems["status"] = [f"must be one of {', '.join(MOVABLE)}"]
    if problems:
        raise InvalidData("migration request refused", problems)
    return _Versions(source.process_key, source.id, source.version, target.id, target.version, src, tgt)


def _candidates(session: Session, request: MigrationRequest, source_id: int) -> list[int]:
    """Return the ids of the cases the request names (explicit ids are judged even when unmovable)."""
    if request.instance_ids is not None:
        return sorted({int(i) for i in request.instance_ids})
    query = select(ProcessInstance.id).where(ProcessInstance.version_id == source_id,
                                             ProcessInstance.status.in_(
                                                 [request.status] if request.status else MOVABLE))
    if request.started_before is not None:
        query = query.where(ProcessInstance.started_at < request.started_before)
    return list(session.scalars(query.order_by(ProcessInstance.id)))


def _judge(session: Session, inst: ProcessInstance | None, instance_id: int, versions: _Versions,
           mapping: Mapping[str, str], calendar: BusinessCalendar, actor: str, now: datetime
           ) -> tuple[InstanceOutcome, Any]:
    """Decide whether one case can move; return the verdict and its loaded workflow (None if not)."""
    out = InstanceOutcome(instance_id, can_move=False)

    def refuse(message: str, element_id: str = "") -> tuple[InstanceOutcome, Any]:
        out.reasons.append({"element_id": element_id, "message": message})
        return out, None

    if inst is None:
        return refuse(f"instance {instance_id} does not exist")
    if inst.process_key != versions.key or inst.version_id != versions.source_id:
        return refuse(f"instance {instance_id} is not on version {versions.source_number} "
                      f"of {versions.key}")
    if inst.status not in MOVABLE:
        hint = "; retry or terminate it first" if inst.status == "error" else ""
        return refuse(f"instance {instance_id} is {inst.status}{hint}")
    ctx = StepContext(session, inst, actor, now, calendar)
    workflow = load_state(inst.state, inst.state_format, versions.source_compiled.spec,
                          versions.source_compiled.subprocess_specs, ctx.script_engine())
    plan: SpecMove = plan_move(workflow, versions.target_compiled.spec, mapping)
    for element_id, message in plan.problems:
        out.reasons.append({"element_id": element_id, "message": message})
    out.moves = plan.moves
    _check_open_tasks(session, inst, versions, plan, out)
    out.can_move = not out.reasons
    return out, workflow if out.can_move else None


def _target_task(versions: _Versions, element: str) -> dict[str, Any]:
    return dict(versions.target_compiled.model.get("tasks", {}).get(element) or {})


def _check_open_tasks(session: Session, inst: ProcessInstance, versions: _Versions, plan: SpecMove,
                      out: InstanceOutcome) -> None:
    """Refuse a move that would leave an open task with an assignee lacking the target's role."""
    rows = session.scalars(select(TaskRow).where(TaskRow.instance_id == inst.id, TaskRow.status == "open"))
    for row in rows:
        new = plan.moves.get(row.element_id, row.element_id)
        role = _target_task(versions, new).get("role")
        if not role or role == row.role or row.assignee is None:
            continue
        held = user_roles(session, row.assignee) or frozenset()
        if role not in held:
            out.reasons.append({"element_id": row.element_id, "message": (
                f"task {row.element_id} is assigned to {row.assignee}, who does not hold role {role} "
                f"that {new} needs in version {versions.target_number}")})


def _move(session: Session, inst: ProcessInstance, workflow: Any, versions: _Versions,
          mapping: Mapping[str, str], out: InstanceOutcome, actor: Actor, now: datetime) -> None:
    """Move one judged case: state, version, open task rows (assignee and deadline kept), history."""
    apply_move(workflow, versions.target_compiled.spec, mapping)
    inst.version_id = versions.target_id
    inst.state = dump_state(workflow)
    inst.state_format = STATE_FORMAT
    inst.next_wakeup_at = wakeup_time(workflow)
    inst.updated_at = now
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == inst.id,
                                                     TaskRow.status == "open")):
        new = out.moves.get(row.element_id, row.element_id)
        spec = _target_task(versions, new)
        row.element_id = new
        row.title_zh = spec.get("title_zh", row.title_zh)
        row.title_en = spec.get("title_en", row.title_en)
        if spec.get("role"):
            row.role = spec["role"]
    history.record(session, inst.id, "migrated", now, actor=actor.username,
                   message=f"version {versions.source_number} → {versions.target_number}",
                   details={"from_version": versions.source_number, "to_version": versions.target_number,
                            "moves": out.moves})
    out.moved = True
    session.flush()


def migrate_instances(session: Session, request: MigrationRequest, actor: Actor, *, dry_run: bool,
                      calendar: BusinessCalendar | None = None, now: datetime | None = None,
                      progress: Callable[[InstanceOutcome], None] | None = None) -> MigrationReport:
    """Judge (dry run) or move each named case; a real run commits each case in its own unit of work."""
    if not MIGRATORS & domain.current().effective_roles(actor.roles):
        raise Forbidden("only admins and process owners may migrate instances")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    calendar = calendar or BusinessCalendar(country=None)
    versions = _versions(session, request)
    ids = _candidates(session, request, versions.source_id)
    mapping = dict(request.mapping)
    outcomes: list[InstanceOutcome] = []
    for instance_id in ids:
        if dry_run:
            inst = session.get(ProcessInstance, instance_id)
            outcome, _wf = _judge(session, inst, instance_id, versions, mapping, calendar,
                                  actor.username, now)
        else:
            outcome = run_unit(session, lambda i=instance_id: _migrate_one(  # type: ignore[misc]
                session, i, versions, mapping, calendar, actor, now)).unwrap()
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    if dry_run:
        session.rollback()  # a dry run only read
    return MigrationReport(request.process_key, request.from_version, request.to_version, dry_run, outcomes)


def _migrate_one(session: Session, instance_id: int, versions: _Versions, mapping: Mapping[str, str],
                 calendar: BusinessCalendar, actor: Actor, now: datetime) -> InstanceOutcome:
    """Lock one case, judge it under the lock and move it when it can."""
    inst = session.scalar(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                          .with_for_update().execution_options(populate_existing=True))
    outcome, workflow = _judge(session, inst, instance_id, versions, mapping, calendar, actor.username, now)
    if inst is not None and workflow is not None:
        _move(session, inst, workflow, versions, mapping, outcome, actor, now)
    return outcome
