"""Deriving a unit's notification events from its history rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

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
    real_get = Session.get

    def counting_get(self: Session, entity: Any, ident: Any, **kwargs: Any) -> Any:
        looked_up.append(entity)
        return real_get(self, entity, ident, **kwargs)

    monkeypatch.setattr(Session, "get", counting_get)
    events = derive(session, rows)
    assert [e.kind for e in events] == ["task_ready", "task_claimed"]
    assert looked_up.count(ProcessInstance) == 1
