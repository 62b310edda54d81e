"""Loaded workflows kept per (instance, row_version): reused after a commit, never after a rollback or a
write by someone else."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

import engine.runtime as runtime
from engine.runtime import Actor, Engine
from engine.store import workflow_cache
from engine.store.models import ProcessInstance
from tests.engine.test_lifecycle import open_tasks, two_step


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count how often a unit deserializes an instance's stored state."""
    calls: list[int] = []
    real = runtime.load_state

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime, "load_state", counted)
    return calls


def started(session: Session, engine: Engine, people: dict[str, Actor]) -> int:
    """Deploy two_step and start one committed instance; return its id."""
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    return inst.id


def test_the_next_step_reuses_the_committed_workflow(session: Session, engine: Engine,
                                                     people: dict[str, Actor], loads: list[int]) -> None:
    instance_id = started(session, engine, people)
    [first] = open_tasks(session, instance_id)
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
    session.commit()
    [second] = open_tasks(session, instance_id)
    engine.complete(session, second.id, {"approved": True}, people["cs_manager"])
    session.commit()
    assert loads == []
    assert session.get(ProcessInstance, instance_id).status == "completed"  # type: ignore[union-attr]


def test_a_rolled_back_step_leaves_no_workflow_behind(session: Session, engine: Engine,
                                                      people: dict[str, Actor], loads: list[int]) -> None:
    instance_id = started(session, engine, people)
    [first] = open_tasks(session, instance_id)
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
    session.rollback()  # the step never happened, though its workflow ran it in memory
    session.commit()
    # Someone else then writes the row once: it reaches the row version the rolled-back step had.
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                    .values(row_version=ProcessInstance.row_version + 1)
                    .execution_options(synchronize_session=False))
    session.commit()
    engine.complete(session, first.id, {"ok": False, "note": "again"}, people["cs_assistant2"])
    session.commit()
    assert loads == [1]  # read back from the stored state, not the rolled-back workflow
    [second] = open_tasks(session, instance_id)
    assert second.element_id == "second"


def test_a_row_written_by_someone_else_is_read_from_the_database(
        session: Session, engine: Engine, people: dict[str, Actor], loads: list[int]) -> None:
    instance_id = started(session, engine, people)
    # Another process writing the row bumps its version; this process's kept workflow no longer matches.
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                    .values(row_version=ProcessInstance.row_version + 1)
                    .execution_options(synchronize_session=False))
    session.commit()
    [first] = open_tasks(session, instance_id)
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
    session.commit()
    assert loads == [1]


def test_an_ended_instance_leaves_no_workflow_in_the_cache(session: Session, engine: Engine,
                                                           people: dict[str, Actor]) -> None:
    instance_id = started(session, engine, people)
    [first] = open_tasks(session, instance_id)
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
    session.commit()
    kept = workflow_cache._cache(session)  # noqa: SLF001 - what the process holds for this database
    assert [key for key in kept if key[0] == instance_id]  # a running instance's workflow is kept
    [second] = open_tasks(session, instance_id)
    engine.complete(session, second.id, {"approved": True}, people["cs_manager"])
    session.commit()
    assert session.get(ProcessInstance, instance_id).status == "completed"  # type: ignore[union-attr]
    assert not [key for key in kept if key[0] == instance_id]  # it takes no further step
