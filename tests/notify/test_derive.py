"""Deriving a unit's notification events from its history rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.notify import events as events_module
from engine.notify.events import HistoryRow, derive
from engine.runtime import Actor, Engine
from engine.store.models import ProcessInstance
from tests.conftest import T0
from tests.engine.test_state import open_task, rework_loop


def test_a_units_rows_about_one_instance_look_it_up_once(session: Session, engine: Engine,
                                                         people: dict[str, Actor],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    engine.deploy(session, rework_loop())
    inst = engine.start(session, "rework", {}, people["cs_assistant"])
    task = open_task(session, inst.id)
    rows = [HistoryRow(inst.id, "task_ready", T0, element_id="work", task_id=task.id),
            HistoryRow(inst.id, "task_claimed", T0, actor="cs_assistant", element_id="work", task_id=task.id),
            HistoryRow(inst.id, "gateway", T0, element_id="again")]
    looked_up: list[Any] = []
    real_held = events_module.held_row

    def counting(session: Session, cls: Any, key: Any) -> Any:
        looked_up.append(cls)
        return real_held(session, cls, key)

    monkeypatch.setattr(events_module, "held_row", counting)
    events = derive(session, rows)
    assert [e.kind for e in events] == ["task_ready", "task_claimed"]
    assert looked_up.count(ProcessInstance) == 1


def test_rows_the_session_does_not_hold_are_read(session: Session, engine: Engine,
                                                 people: dict[str, Actor]) -> None:
    engine.deploy(session, rework_loop())
    inst = engine.start(session, "rework", {}, people["cs_assistant"])
    task = open_task(session, inst.id)
    rows = [HistoryRow(inst.id, "task_ready", T0, element_id="work", task_id=task.id),
            HistoryRow(inst.id, "completed", T0)]
    held = [(e.kind, e.task_id, e.role, e.users) for e in derive(session, rows)]
    session.commit()
    session.expunge_all()  # neither the instance nor its task row is in the session any more
    assert [(e.kind, e.task_id, e.role, e.users) for e in derive(session, rows)] == held
    assert held[0] == ("task_ready", task.id, task.role, ())
