"""Run a workflow's automatic steps: bounded, pruned, recorded, each side effect in a savepoint."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, EndEvent, ExclusiveGateway
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.context import StepContext
from engine.errors import ProcessFailure
from engine.sandbox.budget import CpuClock
from engine.spiff.state import prune
from engine.store import history

MAX_STEPS = 5_000  # automatic steps per unit of work before a runaway loop is stopped
MAX_SECONDS = 5.0  # CPU time per unit of work spent on automatic steps
PRUNE_EVERY = 100


def _element(task: Any) -> str | None:
    """Return the BPMN element id of a task, None for Spiff's internal helpers."""
    return getattr(task.task_spec, "bpmn_id", None)


def _ready_automatic(workflow: Any) -> list[Any]:
    """Return READY tasks the engine runs itself (scanning the dict: no depth-limited iterator)."""
    ready = TaskState.READY
    return [t for t in workflow.tasks.values() if t.state == ready and not t.task_spec.manual]


class Stepper:
    """Runs automatic tasks for one unit of work and records what happened."""

    def __init__(self, ctx: StepContext, model: dict[str, Any]) -> None:
        self.ctx = ctx
        self.model = model
        self.steps = 0
        self.clock = CpuClock()  # CPU time: waiting for a lock is not the process looping
        self.escalated_tasks: list[str] = []  # Spiff ids of user tasks whose deadline timer fired
        self.outcome: str | None = None

    def run(self, workflow: BpmnWorkflow) -> None:
        """Run until only user tasks and waiting events remain; raise ProcessFailure on errors."""
        while True:
            progressed = self._pass(workflow)
            self._refresh_timers(workflow)
            if not progressed and not _ready_automatic(workflow) and not any(
                _ready_automatic(sp) for sp in workflow.subprocesses.values()
            ):
                break
        prune(workflow)

    def _refresh_timers(self, workflow: BpmnWorkflow) -> None:
        """Let waiting timers compute their due time or fire, naming the element on failure."""
        for task in list(workflow.event_manager.tasks.values()):
            if not isinstance(task.task_spec.event_definition, TimerEventDefinition):
                continue
            try:
                task.task_spec._update(task)
            except Exception as exc:
                raise _failure(exc, task, self.ctx.instance.id) from exc

    def _pass(self, workflow: BpmnWorkflow) -> bool:
        """Run every ready automatic task once, subprocesses first (as Spiff does)."""
        progressed = False
        active = workflow.get_active_subprocesses()
        for sub in sorted(active, key=lambda w: w.depth, reverse=True):
            while self._run_ready(sub):
                progressed = True
            if sub.parent_task_id is not None:
                parent = workflow.get_task_from_id(sub.parent_task_id)
                parent.task_spec._update(parent)
        if self._run_ready(workflow):
            progressed = True
        if len(workflow.get_active_subprocesses()) > len(active):
            progressed = True
        return progressed

    def _run_ready(self, workflow: Any) -> bool:
        """Run the ready automatic tasks of one (sub)workflow; return whether any ran."""
        ready = _ready_automatic(workflow)
        for task in ready:
            if task.state != TaskState.READY:
                continue  # an earlier task of this pass cancelled it (interrupting event, join)
            self._guard()
            self._run_one(task)
            self.steps += 1
            if self.steps % PRUNE_EVERY == 0:
                prune(self.ctx_workflow(task))
        return bool(ready)

    @staticmethod
    def ctx_workflow(task: Any) -> Any:
        """Return the top workflow of a task."""
        return task.workflow.top_workflow

    def _guard(self) -> None:
        """Stop runaway loops: a back edge with no user task would otherwise spin forever."""
        if self.steps >= MAX_STEPS:
            raise ProcessFailure(f"stopped after {MAX_STEPS} automatic steps without waiting for a person "
                                 "or a timer: the process loops", instance_id=self.ctx.instance.id)
        # Looking every 8th step still stops a loop within seconds.
        if not self.steps & 7 and self.clock.spent() > MAX_SECONDS:
            raise ProcessFailure(f"automatic steps took longer than {MAX_SECONDS:.0f} s: the process "
                                 "loops without waiting for a person or a timer",
                                 instance_id=self.ctx.instance.id)

    def _run_one(self, task: Any) -> None:
        """Run one task; its writes (opened lazily by StepContext.before_write) roll back if it fails."""
        self.ctx.task, self.ctx.savepoint = task, None
        calls_before = len(self.ctx.service_calls)
        try:
            task.run()
        except Exception as exc:
            if self.ctx.savepoint is not None:
                self.ctx.savepoint.rollback()
            raise _failure(exc, task, self.ctx.instance.id) from exc
        else:
            if self.ctx.savepoint is not None:
                self.ctx.savepoint.commit()
        finally:
            self.ctx.task, self.ctx.savepoint = None, None
        self._record(task, self.ctx.service_calls[calls_before:])

    def _record(self, task: Any, calls: list[dict[str, Any]]) -> None:
        """Write the history row of one automatic task."""
        element = _element(task)
        if element is None:
            return
        spec, ctx = task.task_spec, self.ctx
        kind, message = "event", ""
        details: dict[str, Any] | None = None
        if isinstance(spec, ExclusiveGateway) or type(spec).__name__.endswith("Gateway"):
            kind = "gateway"
            taken = [_element(c) for c in task.children if c.has_state(TaskState.DEFINITE_MASK
                                                                        | TaskState.FINISHED_MASK)]
            details = {"taken": [t for t in taken if t]}
        elif type(spec).__name__ == "ScriptTask":
            kind = "script"
            details = {"service_calls": calls} if calls else None
        elif isinstance(spec, BoundaryEvent) and isinstance(spec.event_definition, TimerEventDefinition):
            kind = "timer_fired"
            self._escalate(task)
        elif isinstance(spec, CatchingEvent) and isinstance(spec.event_definition, TimerEventDefinition):
            kind = "timer_fired"
        elif isinstance(spec, EndEvent):
            outcome = self.model.get("outcomes", {}).get(element)
            if outcome:
                self.outcome = outcome
                task.data["outcome"] = outcome
                message = outcome
        history.record(ctx.session, ctx.instance.id, kind, ctx.now, actor=None, element_id=element,
                       task_id=str(task.id), message=message, details=details)
        if kind == "event" and message:
            history.record(ctx.session, ctx.instance.id, "outcome", ctx.now, element_id=element,
                           message=message)

    def _escalate(self, timer_task: Any) -> None:
        """Mark the task a deadline timer is attached to as overdue and record the escalation."""
        attached = self.model.get("timers", {}).get(_element(timer_task), {}).get("attached_to")
        split = timer_task.parent
        main = None
        if split is not None:
            main = next((c for c in split.children if not isinstance(c.task_spec, BoundaryEvent)), None)
        if main is not None:
            self.escalated_tasks.append(str(main.id))
        history.record(self.ctx.session, self.ctx.instance.id, "escalation", self.ctx.now,
                       element_id=attached, task_id=str(main.id) if main is not None else None,
                       message=f"deadline of {attached} passed",
                       details={"timer": _element(timer_task)})


def _failure(exc: Exception, task: Any, instance_id: int) -> ProcessFailure:
    """Turn whatever a script or expression raised into a ProcessFailure naming the element."""
    if isinstance(exc, ProcessFailure):
        exc.instance_id = instance_id
        exc.element_id = exc.element_id or _element(task)
        return exc
    line = getattr(exc, "line_number", None) or getattr(exc, "line", None)
    inner = getattr(exc, "exception", None) or exc
    text = str(exc) or type(exc).__name__
    if inner is not exc and str(inner) and str(inner) not in text:
        text = f"{text}: {inner}"
    where = f" (line {line})" if line else ""
    return ProcessFailure(f"{_element(task) or task.task_spec.name}{where}: {text}", line=line or None,
                          instance_id=instance_id, element_id=_element(task), task_id=str(task.id))
