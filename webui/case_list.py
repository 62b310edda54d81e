"""One line of the case list: where the case stands now (current step, who has it, by when)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask import url_for

from engine.store.queries import InstanceView, TaskView

from .display import case_number, person, pick
from .i18n import localized_role
from .inbox import Due, due_info


@dataclass(frozen=True)
class CaseRow:
    """A case as the list shows it."""

    inst: InstanceView
    no: str
    url: str
    started_by: str
    steps: list[tuple[str, str]]  # (step title, who has it: a person or the role)
    due: Due | None


def case_row(inst: InstanceView, tasks: list[TaskView], names: Mapping[str, str],
             moment: datetime) -> CaseRow:
    """Return the list line of a case from its open tasks."""
    steps = [(pick(t.title_zh, t.title_en),
              person(names, t.assignee) if t.assignee else localized_role(t.role)) for t in tasks]
    # A paused case's deadlines do not run; it shows none.
    first = tasks[0] if tasks and inst.status == "running" else None
    return CaseRow(inst, case_number(inst.id), url_for("instances.detail", instance_id=inst.id),
                   person(names, inst.started_by), steps,
                   due_info(first.due_at, first.overdue, moment) if first is not None else None)
