"""Task helpers over a Spiff workflow: create it, find and read its tasks, their timers and data."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.store import history


def new_workflow(spec: Any, subprocess_specs: dict[str, Any], script_engine: Any,
                 data: Mapping[str, Any]) -> Any:
    """Create a workflow on a spec with a copy of data on each of its ready start tasks."""
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(copy.deepcopy(dict(data)))
    return workflow


def is_ready(task: Any) -> bool:
    """Tell whether a task may run now."""
    return bool(task.state == TaskState.READY)


def ready_user_tasks(workflow: Any) -> list[Any]:
    """Return READY tasks that wait for a person, in the workflow and its subprocesses."""
    found: list[Any] = []
    for wf in [workflow, *workflow.subprocesses.values()]:
        found.extend(t for t in wf.tasks.values() if t.state == TaskState.READY and t.task_spec.manual)
    return found


def find_task(workflow: Any, task_id: str) -> Any:
    """Return a task of the workflow or its subprocesses by id, or None."""
    try:
        uid = UUID(task_id)
    except ValueError:
        return None
    for wf in [workflow, *workflow.subprocesses.values()]:
        if uid in wf.tasks:
            return wf.tasks[uid]
    return None


def restart_failed_tasks(workflow: Any) -> None:
    """Make every failed task of the workflow and its subprocesses ready to run again."""
    for wf in [workflow, *workflow.subprocesses.values()]:
        for task in list(wf.tasks.values()):
            if task.state == TaskState.ERROR:
                # Start the failed step afresh from its parent's data: a half-run script leaves none.
                if task.parent is not None:
                    task.data = copy.deepcopy(task.parent.data)
                task._set_state(TaskState.READY)


def case_data(workflow: Any) -> dict[str, Any]:
    """Return the case's data as people see it: workflow data merged with the ready tasks' data."""
    data = dict(workflow.data)
    tasks = [t for t in workflow.tasks.values() if t.state in (TaskState.READY, TaskState.WAITING)]
    if not tasks and workflow.last_task is not None:
        tasks = [workflow.last_task]
    for task in sorted(tasks, key=lambda t: t.last_state_change):
        data.update(task.data)
    clean: dict[str, Any] = history.jsonable(data)
    return clean


def due_time(task: Any) -> datetime | None:
    """Return the earliest deadline among the timer boundary events attached to a task."""
    parent = task.parent
    if parent is None or not type(parent.task_spec).__name__.startswith("BoundaryEventSplit"):
        return None
    times = []
    for sibling in parent.children:
        spec = sibling.task_spec
        if (isinstance(spec, BoundaryEvent) and isinstance(spec.event_definition, TimerEventDefinition)
                and sibling.state == TaskState.WAITING):
            value = sibling._get_internal_data("event_value")
            if isinstance(value, str):
                times.append(TimerEventDefinition.get_datetime(value))
    return min(times) if times else None


def _waiting_timer_dues(workflow: Any) -> Iterator[tuple[Any, str]]:
    """Yield (task, due value) for each waiting timer that has computed its due time."""
    for task in workflow.event_manager.tasks.values():
        if isinstance(task.task_spec.event_definition, TimerEventDefinition):
            value = task._get_internal_data("event_value")
            due = value.get("next") if isinstance(value, dict) else value
            if isinstance(due, str):
                yield task, due


def unreadable_timers(workflow: Any) -> list[tuple[str, str, str]]:
    """Return (element, due value, reason) for each waiting timer whose due time is no usable date."""
    out = []
    for task, due in _waiting_timer_dues(workflow):
        try:
            TimerEventDefinition.get_datetime(due)
        except (ValueError, OverflowError) as exc:
            out.append((task.task_spec.bpmn_id or task.task_spec.name, due, str(exc)))
    return out


def wakeup_time(workflow: Any) -> datetime | None:
    """Return when the instance next needs the timer worker (earliest waiting timer)."""
    times = []
    for _task, due in _waiting_timer_dues(workflow):
        try:
            times.append(TimerEventDefinition.get_datetime(due))
        except (ValueError, OverflowError):
            continue  # an unreadable due time already failed its instance when the timer ran
    return min(times) if times else None
