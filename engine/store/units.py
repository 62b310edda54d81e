"""Small helpers around one unit of work: find a task, read the case data, commit or roll back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.errors import EngineError, ProcessFailure
from engine.store import history

T = TypeVar("T")


def find_task(workflow: BpmnWorkflow, task_id: str) -> Any:
    """Return a task of the workflow or its subprocesses by id, or None."""
    try:
        uid = UUID(task_id)
    except ValueError:
        return None
    for wf in [workflow, *workflow.subprocesses.values()]:
        if uid in wf.tasks:
            return wf.tasks[uid]
    return None


def case_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """Return the case's data as people see it: workflow data merged with the ready tasks' data."""
    data = dict(workflow.data)
    tasks = [t for t in workflow.tasks.values() if t.state in (TaskState.READY, TaskState.WAITING)]
    if not tasks and workflow.last_task is not None:
        tasks = [workflow.last_task]
    for task in sorted(tasks, key=lambda t: t.last_state_change):
        data.update(task.data)
    clean: dict[str, Any] = history.jsonable(data)
    return clean


def announce_wakeup(session: Session) -> None:
    """Tell timer workers a wake-up moved earlier: NOTIFY on PostgreSQL, in-process at commit."""
    # engine.worker's after_commit hook reads the flag; NOTIFY is transactional, sent at commit.
    session.info["bpm_wakeup"] = True
    if session.get_bind().dialect.name == "postgresql":
        # No autoflush: NOTIFY needs none of the unit's pending rows, which go out in its final flush.
        with session.no_autoflush:
            session.execute(text("SELECT pg_notify('bpm_wakeup', '')"))


def run_unit(session: Session, action: Callable[[], T]) -> T:
    """Run one façade call and commit, or roll back on any error (CLI and worker helper)."""
    try:
        result = action()
        session.commit()
        return result
    except ProcessFailure:
        # The instance was moved to `error` with the failure recorded: keep that.
        session.commit()
        raise
    except EngineError:
        session.rollback()
        raise
    except Exception:
        session.rollback()
        raise
