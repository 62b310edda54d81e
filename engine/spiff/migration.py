"""Move a loaded workflow onto another version's spec, keeping its waiting tasks, their ids and timers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.task import TaskState

# Tasks that stand where the case is (or has been, still kept in the pruned tree): they keep their id.
_KEPT = TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK
# Tasks SpiffWorkflow only predicts from the spec: dropped and predicted again from the new spec.
_PREDICTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


@dataclass
class SpecMove:
    """What moving one workflow would do: each kept task's element old → new, or why it cannot move."""

    moves: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (element id, why)

    @property
    def possible(self) -> bool:
        """Tell whether the workflow can move."""
        return not self.problems


def mapped_name(name: str, mapping: Mapping[str, str]) -> str:
    """Return a spec name in the target: by hand-made mapping, else the same id (suffixes follow)."""
    if name in mapping:
        return mapping[name]
    # Spiff's helper specs are named after their element ("a.BoundaryEventSplit"): they follow it.
    head, dot, tail = name.partition(".")
    if dot and head in mapping:
        return f"{mapping[head]}.{tail}"
    return name


def _element(task: Any) -> str:
    # Helper specs ("a.BoundaryEventSplit") are reported under the element they belong to.
    return str(task.task_spec.bpmn_id or task.task_spec.name.partition(".")[0])


def _kept_tasks(workflow: Any) -> list[Any]:
    return [t for t in workflow.tasks.values() if t.has_state(_KEPT) and not t.has_state(_PREDICTED)]


def plan_move(workflow: Any, target_spec: Any, mapping: Mapping[str, str]) -> SpecMove:
    """Work out, without changing anything, how each kept task maps onto the target spec."""
    plan = SpecMove()
    if workflow.subprocesses:
        plan.problems.append(("", "the case is inside a subprocess or call activity; "
                                  "such cases are not migrated"))
        return plan
    # Waiting tasks first: one reason per element, the most telling one.
    kept = sorted(_kept_tasks(workflow), key=lambda t: t.has_state(TaskState.FINISHED_MASK))
    for task in kept:
        if any(element == _element(task) for element, _why in plan.problems):
            continue
        old = task.task_spec.name
        new = mapped_name(old, mapping)
        target = target_spec.task_specs.get(new)
        waiting = not task.has_state(TaskState.FINISHED_MASK)
        where = "waits at" if waiting else "has passed (still in its working tree)"
        if target is None:
            plan.problems.append((_element(task), f"the case {where} {old!r}, which the target version "
                                                  f"does not have as {new!r}; map it to an element"))
            continue
        if type(target).__name__ != type(task.task_spec).__name__:
            plan.problems.append((_element(task), f"{old!r} is a {type(task.task_spec).__name__} but "
                                                  f"{new!r} in the target version is a "
                                                  f"{type(target).__name__}"))
            continue
        if waiting and task.task_spec.bpmn_id is not None:
            plan.moves[_element(task)] = str(target.bpmn_id or target.name)
    return plan


def apply_move(workflow: Any, target_spec: Any, mapping: Mapping[str, str]) -> None:
    """Point the workflow at the target spec (a plan without problems first) and re-predict its future."""
    kept = _kept_tasks(workflow)
    workflow.spec = target_spec
    for task in kept:
        task.task_spec = target_spec.task_specs[mapped_name(task.task_spec.name, mapping)]
    heads = []
    for task in kept:
        predicted = [c for c in task.children if c.has_state(_PREDICTED)]
        for child in predicted:
            workflow._remove_task(child.id)
        if predicted or (not task.children and not task.has_state(TaskState.FINISHED_MASK)):
            heads.append(task)
    for task in heads:
        task.task_spec._predict(task, mask=_PREDICTED | task.state)
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None

