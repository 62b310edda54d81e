"""The engine façade: every command is one unit of work on one locked instance; callers commit."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import definitions, domain, handoff, separation
from engine.actor import ADMIN, Actor
from engine.calendar import BusinessCalendar, load_calendar
from engine.context import StepContext
from engine.errors import Conflict, Forbidden, InvalidData, NotFound, ProcessFailure
from engine.forms.coercion import FormSchema
from engine.forms.validation import validate_submission
from engine.spiff.state import STATE_FORMAT, dump_state_checked, load_state
from engine.spiff.stepping import Stepper
from engine.spiff.tasks import case_data, find_task, is_ready, new_workflow, restart_failed_tasks, wakeup_time
from engine.store import history, workflow_cache
from engine.store.inbox import (
    left_open,
    refresh_due,
    roles_in_unit,
    sync_inbox,
    user_roles,
)
from engine.store.locking import lock_by_task, lock_instance
from engine.store.models import ProcessInstance, TaskRow
from engine.store.pending import write_pending
from engine.store.unit_rows import insert_instance, write_rows
from engine.store.wakeup import announce_wakeup

__all__ = ["ADMIN", "SYSTEM", "Actor", "Engine", "Loaded"]


FINAL = ("completed", "terminated")


SYSTEM = Actor("system", frozenset({ADMIN}))


@dataclass
class Loaded:
    """An instance locked for this unit of work, with its workflow and context."""

    instance: ProcessInstance
    compiled: definitions.CompiledProcess  # its version's spec, model and forms
    workflow: Any  # a Spiff BpmnWorkflow, handled only through engine.spiff
    ctx: StepContext
    open_rows: list[TaskRow] | None = None  # the instance's open task rows, when the lock read them
    reusable: bool = True  # False when its saved state would reload different (see dump_state_checked)

    @property
    def model(self) -> dict[str, Any]:
        """Return the product model of the instance's version."""
        return self.compiled.model


def title_summary(form: Mapping[str, Any] | None, data: Mapping[str, Any]) -> str:
    """Return what names a case in its title (unit, item, complainant); a choice shows its label."""
    name = next((k for k in ("unit", "item", "complainant") if data.get(k)), None)
    if name is None:
        return ""
    value = str(data[name])
    field = next((f for f in (form or {}).get("fields", ()) if f.get("name") == name), None)
    labels = {o["value"]: o["label_zh"] for o in (field or {}).get("options", ())}
    return labels.get(value, value)


class Engine:
    """Start, advance and administer process instances."""

    def __init__(self, calendar: BusinessCalendar | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.calendar = calendar or load_calendar(None)
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- helpers -------------------------------------------------------------------------------
    def _now(self, now: datetime | None) -> datetime:
        return (now or self.clock()).astimezone(UTC)

    def _lock(self, session: Session, instance_id: int) -> ProcessInstance:
        """Lock the instance row (FOR UPDATE; SQLite holds the write lock from BEGIN IMMEDIATE)."""
        inst = lock_instance(session, instance_id)
        if inst is None:
            raise NotFound(f"instance {instance_id} does not exist", instance_id=instance_id)
        return inst

    def _load(self, session: Session, inst: ProcessInstance, actor: str, now: datetime,
              content_hash: str | None = None) -> Loaded:
        # The cached spec is keyed by content hash: given the hash, a cache hit reads no version row.
        compiled = definitions.compiled_by_id(session, inst.version_id, content_hash)
        ctx = StepContext(session, inst, actor, now, self.calendar)
        # A workflow this process committed at exactly this row version needs no deserializing.
        workflow = workflow_cache.take(session, inst.id, inst.row_version,
                                       workflow_cache.fingerprint(inst.state, inst.state_format))
        if workflow is not None:
            workflow.script_engine = ctx.script_engine()  # bound to this unit's context
        else:
            workflow = load_state(inst.state, inst.state_format, compiled.spec, compiled.subprocess_specs,
                                  ctx.script_engine())
        return Loaded(inst, compiled, workflow, ctx)

    def _advance(self, loaded: Loaded) -> None:
        """Run automatic steps, project the inbox, save state; failures put the instance in error."""
        inst, ctx, wf = loaded.instance, loaded.ctx, loaded.workflow
        stepper = Stepper(ctx, loaded.model)
        try:
            stepper.run(wf)
            sync_inbox(ctx, wf, loaded.model, stepper.escalated_tasks, loaded.open_rows)
        except ProcessFailure as failure:
            refresh_due(ctx.session, inst)
            self._save(loaded)
            self._mark_error(loaded, failure)
            raise
        if stepper.outcome:
            inst.outcome = stepper.outcome
        completed = wf.is_completed()  # a walk of the task tree while the workflow runs: asked once
        if completed:
            inst.status = "completed"
            inst.ended_at = ctx.now
            inst.outcome = inst.outcome or wf.data.get("outcome")
            history.record(ctx.session, inst.id, "completed", ctx.now, message=inst.outcome or "")
        self._save(loaded, completed)

    def _save(self, loaded: Loaded, completed: bool | None = None) -> None:
        inst, wf = loaded.instance, loaded.workflow
        inst.state, loaded.reusable = dump_state_checked(wf)
        # Set only on a change: every attribute set is an ORM event and a column in the unit's UPDATE.
        if inst.state_format != STATE_FORMAT:
            inst.state_format = STATE_FORMAT
        inst.data = case_data(wf)
        inst.updated_at = loaded.ctx.now
        if completed is None:
            completed = wf.is_completed()
        wakeup = None if completed else wakeup_time(wf)
        if wakeup != inst.next_wakeup_at:
            if wakeup is not None and (inst.next_wakeup_at is None or wakeup < inst.next_wakeup_at):
                announce_wakeup(loaded.ctx.session)
            inst.next_wakeup_at = wakeup

    def _mark_error(self, loaded: Loaded, failure: ProcessFailure) -> None:
        inst, now = loaded.instance, loaded.ctx.now
        inst.status = "error"
        inst.error = {"message": failure.message, "element_id": failure.element_id, "line": failure.line,
                      "at": now.isoformat()}
        history.record(loaded.ctx.session, inst.id, "error", now, element_id=failure.element_id,
                       message=failure.message, details={"line": failure.line})

    def _flush(self, session: Session, loaded: Loaded | None = None) -> None:
        """Flush, turning a lost optimistic-lock race into a Conflict; then write the unit's queued rows."""
        try:
            if not write_rows(session):  # the unit's rows and its queued ones (history) together
                session.flush()
                # History (and any row queued with engine.store.pending.add_row): one insert per table.
                write_pending(session)
        except StaleDataError as exc:
            raise Conflict("the instance changed meanwhile; reload and try again") from exc
        if loaded is not None and loaded.reusable and loaded.instance.status not in FINAL:
            # Under the row version just written; kept only if the unit commits. An ended instance takes
            # no further step: kept, its workflow only grew the heap every garbage collection walks.
            inst = loaded.instance
            workflow_cache.keep_after_commit(session, inst.id, inst.row_version,
                                             workflow_cache.fingerprint(inst.state, inst.state_format),
                                             loaded.workflow)

    @staticmethod
    def open_tasks(session: Session, instance_id: int) -> list[TaskRow]:
        """Return an instance's open tasks, as the session's latest unit on it left them (no query then)."""
        return left_open(session, instance_id)

    # -- definitions ---------------------------------------------------------------------------
    def deploy(self, session: Session, xml: bytes | str, *, filename: str = "", actor: Actor = SYSTEM,
               now: datetime | None = None, base_hash: str | None = None,
               if_match: Collection[str] | None = None) -> definitions.DeployResult:
        """Check a BPMN file and store it as a new version when it changed and nobody deployed meanwhile."""
        return definitions.deploy(session, xml, filename=filename, actor=actor.username, now=self._now(now),
                                  base_hash=base_hash, if_match=if_match)

    # -- instances -----------------------------------------------------------------------------
    def start(self, session: Session, process_key: str, data: Mapping[str, Any], actor: Actor,
              now: datetime | None = None) -> ProcessInstance:
        """Start an instance of the newest version of a process."""
        now = self._now(now)
        newest = definitions.newest_compiled(session, process_key)  # no XML read on a spec-cache hit
        definitions.note_version_number(session, newest.id, newest.version)
        compiled = newest.compiled
        model = compiled.model
        starters = set(model.get("starters") or [])
        if starters and not starters & domain.current().effective_roles(actor.roles):
            raise Forbidden(f"only {', '.join(sorted(starters))} may start {process_key}")
        inst = ProcessInstance(process_key=process_key, version_id=newest.id, status="running",
                               title=model["name_zh"], started_by=actor.username, started_at=now,
                               updated_at=now, state_format=STATE_FORMAT, state=b"", data={})
        ctx = StepContext(session, inst, actor.username, now, self.calendar)
        # Validated before the row exists, so title and unit go into the INSERT: the instance row is
        # written twice per start (insert for its id, update with the state), not three times.
        clean = self._validated(ctx, compiled.start_form, data, {}, element_id="start")
        inst.unit = str(clean.get("unit"))[:64] if clean.get("unit") else None
        inst.title = f"{model['name_zh']} {title_summary(model.get('start_form'), clean)}".strip()[:300]
        insert_instance(session, inst)  # its id now: the workflow's variables name it
        variables = {"initiator": actor.username, "initiator_roles": sorted(actor.roles),
                     "started_at": now.isoformat(), "performed_by": {}, "instance_id": inst.id, **clean}
        workflow = new_workflow(compiled.spec, compiled.subprocess_specs, ctx.script_engine(), variables)
        history.record(session, inst.id, "started", now, actor=actor.username,
                       details={"data": clean, "version": newest.version})
        loaded = Loaded(inst, compiled, workflow, ctx, open_rows=[])
        self._advance(loaded)
        self._flush(session, loaded)
        return inst

    def _validated(self, ctx: StepContext, form: FormSchema | None, submitted: Mapping[str, Any],
                   context: Mapping[str, Any], *, element_id: str,
                   task_id: str | None = None) -> dict[str, Any]:
        """Validate a submission against a form definition; raise InvalidData naming each field."""
        if not isinstance(submitted, Mapping):
            raise InvalidData("data must be an object", {"data": ["must be a JSON object"]})
        if form is None:
            if submitted:
                raise InvalidData("this step takes no data", {k: ["unknown field"] for k in submitted})
            return {}
        clean, errors = validate_submission(
            form, submitted, context, ctx.evaluate,
            lambda name: roles_in_unit(ctx, name), ctx.calendar.zone)
        if errors:
            raise InvalidData(f"{element_id}: {len(errors)} field(s) refused", errors,
                              instance_id=ctx.instance.id, element_id=element_id, task_id=task_id)
        return clean

    def _task_and_lock(self, session: Session, task_id: str
                       ) -> tuple[TaskRow, ProcessInstance, str, list[TaskRow]]:
        """Lock the task's instance and read it with its version's hash and its open task rows, in one go."""
        found = lock_by_task(session, task_id)
        if found is None:
            raise NotFound(f"task {task_id} does not exist", task_id=task_id)
        inst, open_rows = found.instance, found.open_rows
        definitions.note_version_number(session, inst.version_id, found.version)
        row = next((r for r in open_rows if r.id == task_id), None)
        if row is None:  # no longer open (or never was): read it to say which
            row = session.get(TaskRow, task_id, populate_existing=True)
        if row is None:
            raise NotFound(f"task {task_id} does not exist", task_id=task_id)
        return row, inst, found.content_hash, open_rows

    def _check_may_work(self, row: TaskRow, inst: ProcessInstance, actor: Actor, model: dict[str, Any],
                        performed_by: Mapping[str, str]) -> None:
        """Refuse actors without the role, other people's tasks and separation-of-duty breaches."""
        if row.status != "open":
            raise Conflict(f"task {row.element_id} is already {row.status}", task_id=row.id,
                           instance_id=inst.id, element_id=row.element_id)
        if inst.status != "running":
            raise Conflict(f"instance {inst.id} is {inst.status}", instance_id=inst.id)
        if row.role not in domain.current().effective_roles(actor.roles):
            raise Forbidden(f"task {row.element_id} is for role {row.role}", task_id=row.id,
                            element_id=row.element_id)
        if row.assignee and row.assignee != actor.username:
            raise Forbidden(f"task {row.element_id} is assigned to {row.assignee}", task_id=row.id,
                            element_id=row.element_id)
        breach = self._separation_breach(row, inst, actor.username, model, performed_by)
        if breach is not None:
            raise Forbidden(f"{row.element_id}: {breach}", task_id=row.id, element_id=row.element_id)

    @staticmethod
    def _separation_breach(row: TaskRow, inst: ProcessInstance, username: str, model: dict[str, Any],
                           performed_by: Mapping[str, str]) -> str | None:
        """Return which separation-of-duty rule forbids the user this task, or None."""
        found = separation.breach(model.get("tasks", {}).get(row.element_id, {}), inst.started_by, username,
                                  performed_by)
        return separation.describe(found) if found is not None else None

    def complete(self, session: Session, task_id: str, data: Mapping[str, Any], actor: Actor,
                 now: datetime | None = None) -> ProcessInstance:
        """Complete a user task with the submitted form data."""
        now = self._now(now)
        row, inst, content_hash, open_rows = self._task_and_lock(session, task_id)
        if row.status != "open":
            raise Conflict(f"task {row.element_id} is already {row.status}", task_id=task_id,
                           instance_id=inst.id, element_id=row.element_id)
        loaded = self._load(session, inst, actor.username, now, content_hash)
        loaded.open_rows = open_rows
        task = find_task(loaded.workflow, task_id)
        performed_by = dict(task.data.get("performed_by") or {}) if task is not None else {}
        self._check_may_work(row, inst, actor, loaded.model, performed_by)
        if task is None or not is_ready(task):
            raise Conflict(f"task {row.element_id} is not ready any more", task_id=task_id)
        # The task's element, as the inbox projected it; a task the model does not describe has no form.
        form = loaded.compiled.task_forms.get(task.task_spec.bpmn_id)
        clean = self._validated(loaded.ctx, form, data, task.data, element_id=row.element_id, task_id=task_id)
        changed = history.changes(task.data, clean)  # read before the update: no copy of the data needed
        task.data.update(clean)
        task.data["performed_by"] = {**performed_by, row.element_id: actor.username}
        task.run()
        row.status, row.completed_at, row.completed_by = "completed", now, actor.username
        if row.assignee != actor.username:  # claimed by them already: no change to write
            row.assignee = actor.username
        history.record(session, inst.id, "task_completed", now, actor=actor.username,
                       element_id=row.element_id, task_id=task_id,
                       details={"data": clean, "changes": changed})
        self._advance(loaded)
        self._flush(session, loaded)
        return inst

    def claim(self, session: Session, task_id: str, actor: Actor, now: datetime | None = None) -> TaskRow:
        """Take an open task of one's role into one's own inbox."""
        now = self._now(now)
        row, inst, content_hash, _open = self._task_and_lock(session, task_id)
        if row.assignee == actor.username and row.status == "open":
            return row
        if row.assignee and row.status == "open":
            raise Conflict(f"task {row.element_id} is already claimed by {row.assignee}", task_id=task_id)
        loaded = self._load(session, inst, actor.username, now, content_hash)
        task = find_task(loaded.workflow, task_id)
        performed_by = dict(task.data.get("performed_by") or {}) if task is not None else {}
        self._check_may_work(row, inst, actor, loaded.model, performed_by)
        row.assignee, row.claimed_at = actor.username, now
        history.record(session, inst.id, "task_claimed", now, actor=actor.username,
                       element_id=row.element_id, task_id=task_id)
        inst.updated_at = now
        self._flush(session, loaded)  # the workflow is unchanged: still good at the new row version
        return row

    def release(self, session: Session, task_id: str, actor: Actor, now: datetime | None = None) -> TaskRow:
        """Give a claimed task back to its role."""
        now = self._now(now)
        row, inst, _hash, _open = self._task_and_lock(session, task_id)
        if row.status != "open":
            raise Conflict(f"task {row.element_id} is already {row.status}", task_id=task_id)
        if not (actor.is_admin or (row.assignee is not None and handoff.may_hand_on(row.role, row.assignee,
                                                                                    actor))):
            raise Forbidden(f"task {row.element_id} is not yours to release", task_id=task_id)
        if row.assigned_by_process:
            raise Conflict(f"task {row.element_id} was assigned by the process and cannot be released; "
                           "an admin may reassign it", task_id=task_id)
        row.assignee, row.claimed_at = None, None
        history.record(session, inst.id, "task_released", now, actor=actor.username,
                       element_id=row.element_id, task_id=task_id)
        inst.updated_at = now
        self._flush(session)
        return row

    def reassign(self, session: Session, task_id: str, assignee: str, actor: Actor,
                 now: datetime | None = None) -> TaskRow:
        """Hand a task to another user holding its role (its holder, a dispatcher of its role, admins)."""
        now = self._now(now)
        row, inst, content_hash, _open = self._task_and_lock(session, task_id)
        if not handoff.may_hand_on(row.role, row.assignee, actor):
            raise Forbidden(f"task {row.element_id} may be handed on only by its holder, a dispatcher of "
                            f"role {row.role} or an admin", task_id=task_id)
        if row.status != "open":
            raise Conflict(f"task {row.element_id} is already {row.status}", task_id=task_id)
        roles = user_roles(session, assignee)
        if roles is None or row.role not in roles:
            raise InvalidData("assignee refused", {"assignee": [f"{assignee!r} is not an active user "
                                                                f"holding role {row.role}"]})
        # The assignee could never complete a task separation of duties forbids them: it would stick.
        loaded = self._load(session, inst, actor.username, now, content_hash)
        task = find_task(loaded.workflow, task_id)
        performed_by = dict(task.data.get("performed_by") or {}) if task is not None else {}
        breach = self._separation_breach(row, inst, assignee, loaded.model, performed_by)
        if breach is not None:
            raise InvalidData("assignee refused", {"assignee": [
                f"{assignee!r} may not do {row.element_id} (separation of duties): {breach}"]})
        previous = row.assignee
        row.assignee, row.claimed_at = assignee, now
        history.record(session, inst.id, "task_reassigned", now, actor=actor.username,
                       element_id=row.element_id, task_id=task_id,
                       details={"from": previous, "to": assignee})
        if inst.status == "error" and inst.error and inst.error.get("element_id") == row.element_id:
            inst.error = {**inst.error, "resolved_by_reassign": True}
        inst.updated_at = now
        self._flush(session, loaded)
        return row

    # -- administration ------------------------------------------------------------------------
    def _admin_instance(self, session: Session, instance_id: int, actor: Actor) -> ProcessInstance:
        if not actor.is_admin:
            raise Forbidden("only admins may do this")
        return self._lock(session, instance_id)

    def suspend(self, session: Session, instance_id: int, actor: Actor, reason: str = "",
                now: datetime | None = None) -> ProcessInstance:
        """Pause an instance: no task may be completed and no timer fires until resumed."""
        now = self._now(now)
        inst = self._admin_instance(session, instance_id, actor)
        if inst.status not in ("running", "error"):
            raise Conflict(f"instance {instance_id} is {inst.status}; only running instances can be "
                           "suspended", instance_id=instance_id)
        history.record(session, inst.id, "suspended", now, actor=actor.username, message=reason,
                       details={"previous": inst.status})
        inst.status, inst.updated_at = "suspended", now
        self._flush(session)
        return inst

    def resume(self, session: Session, instance_id: int, actor: Actor, reason: str = "",
               now: datetime | None = None) -> ProcessInstance:
        """Continue a suspended instance where it stood."""
        now = self._now(now)
        inst = self._admin_instance(session, instance_id, actor)
        if inst.status != "suspended":
            raise Conflict(f"instance {instance_id} is {inst.status}, not suspended", instance_id=instance_id)
        inst.status = "error" if inst.error else "running"
        if inst.status == "running" and inst.next_wakeup_at is not None:
            announce_wakeup(session)  # timers that fell due while suspended fire now
        inst.updated_at = now
        history.record(session, inst.id, "resumed", now, actor=actor.username, message=reason)
        self._flush(session)
        return inst

    def terminate(self, session: Session, instance_id: int, actor: Actor, reason: str = "",
                  now: datetime | None = None) -> ProcessInstance:
        """End an instance for good; its open tasks are cancelled."""
        now = self._now(now)
        inst = self._admin_instance(session, instance_id, actor)
        if inst.status in FINAL:
            raise Conflict(f"instance {instance_id} is already {inst.status}", instance_id=instance_id)
        for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == inst.id,
                                                         TaskRow.status == "open")):
            row.status, row.completed_at = "cancelled", now
            history.record(session, inst.id, "task_cancelled", now, actor=actor.username,
                           element_id=row.element_id, task_id=row.id, message="instance terminated")
        inst.status, inst.ended_at, inst.updated_at, inst.next_wakeup_at = "terminated", now, now, None
        inst.due_at = None
        history.record(session, inst.id, "terminated", now, actor=actor.username, message=reason)
        self._flush(session)
        return inst

    def retry(self, session: Session, instance_id: int, actor: Actor, now: datetime | None = None
              ) -> ProcessInstance:
        """Run a failed instance again from the step that failed."""
        now = self._now(now)
        inst = self._admin_instance(session, instance_id, actor)
        if inst.status != "error":
            raise Conflict(f"instance {instance_id} is {inst.status}, not in error", instance_id=instance_id)
        loaded = self._load(session, inst, actor.username, now)
        restart_failed_tasks(loaded.workflow)
        history.record(session, inst.id, "retried", now, actor=actor.username,
                       element_id=(inst.error or {}).get("element_id"))
        inst.status, inst.error = "running", None
        self._advance(loaded)
        self._flush(session, loaded)
        return inst

    def fire_timers(self, session: Session, instance_id: int, now: datetime | None = None) -> bool:
        """Fire an instance's due timers; return False when it was not running or nothing was due."""
        now = self._now(now)
        inst = self._lock(session, instance_id)
        if inst.status != "running" or inst.next_wakeup_at is None or inst.next_wakeup_at > now:
            return False
        loaded = self._load(session, inst, "system", now)
        self._advance(loaded)
        self._flush(session, loaded)
        return True
