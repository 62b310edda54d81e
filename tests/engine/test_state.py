"""Stored state: spec-free, pruned, versioned; long rework loops neither stall nor grow."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import StateFormatError
from engine.runtime import Actor, Engine
from engine.spiff.state import STATE_FORMAT, read_state_dict
from engine.store.models import ProcessInstance, TaskRow
from tests.bpmn_builder import Process, field_xml

DATA = Path(__file__).parent.parent / "data"


def rework_loop() -> str:
    """Return a process whose user task loops back on itself until `done`."""
    p = Process("rework")
    p.start()
    p.user("work", "cs_assistant", [field_xml("done", "boolean", required=True),
                                    field_xml("note", "text")])
    p.xor("again", default="back")
    p.end("end", outcome="closed")
    p.chain("start", "work", "again")
    p.flow("again", "end", "done")
    p.flow("again", "work", fid="back")
    return p.xml()


def open_task(session: Session, instance_id: int) -> TaskRow:
    """Return the only open task of an instance."""
    return session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                 TaskRow.status == "open")).one()


def test_state_does_not_embed_the_spec(session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, rework_loop())
    inst = engine.start(session, "rework", {}, people["cs_assistant"])
    dct = read_state_dict(inst.state, inst.state_format)
    assert "spec" not in dct and "subprocess_specs" not in dct
    assert dct["format"] == STATE_FORMAT


def test_a_thousand_iteration_rework_loop_completes_and_state_stays_small(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, rework_loop())
    inst = engine.start(session, "rework", {}, people["cs_assistant"])
    sizes = []
    for i in range(1000):
        row = open_task(session, inst.id)
        engine.complete(session, row.id, {"done": False, "note": f"round {i}"}, people["cs_assistant"])
        if i in (1, 999):
            sizes.append(len(inst.state))
        assert inst.status == "running", f"stalled or ended early at iteration {i}"
    row = open_task(session, inst.id)
    engine.complete(session, row.id, {"done": True}, people["cs_assistant"])
    session.commit()
    assert inst.status == "completed" and inst.outcome == "closed"
    assert sizes[1] < sizes[0] * 1.5, sizes


def test_an_automatic_loop_of_a_thousand_iterations_finishes(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    p = Process("count")
    p.start()
    p.script("init", "n = 0")
    p.script("inc", "n = n + 1")
    p.xor("g", default="back")
    p.end("end", outcome="completed")
    p.chain("start", "init", "inc", "g")
    p.flow("g", "end", "n >= 1000")
    p.flow("g", "inc", fid="back")
    engine.deploy(session, p.xml())
    inst = engine.start(session, "count", {}, people["cs_assistant"])
    assert inst.status == "completed" and inst.data["n"] == 1000


def test_unknown_state_format_is_refused_on_load(session: Session, engine: Engine,
                                                 people: dict[str, Actor]) -> None:
    engine.deploy(session, rework_loop())
    inst = engine.start(session, "rework", {}, people["cs_assistant"])
    with pytest.raises(StateFormatError):
        read_state_dict(inst.state, 99)
    with pytest.raises(StateFormatError):
        read_state_dict(b"garbage", STATE_FORMAT)


def test_frozen_format_1_sample_still_loads_and_finishes(session: Session, engine: Engine,
                                                         people: dict[str, Actor]) -> None:
    """A state blob written by format 1 (tests/data/state_v1.json) must keep loading after upgrades."""
    sample = json.loads((DATA / "state_v1.json").read_text())
    engine.deploy(session, rework_loop())
    inst = engine.start(session, "rework", {}, people["cs_assistant"])
    row = open_task(session, inst.id)
    # Replace the fresh state by the frozen one and point the inbox row at its ready task.
    inst.state = zlib.compress(json.dumps(sample["state"]).encode())
    row_id = sample["ready_task_id"]
    session.delete(row)
    session.flush()
    session.add(TaskRow(id=row_id, instance_id=inst.id, process_key="rework", element_id="work",
                        title_zh="work", title_en="work", role="cs_assistant", status="open",
                        created_at=inst.started_at))
    session.commit()
    engine.complete(session, row_id, {"done": True}, people["cs_assistant"])
    assert session.get(ProcessInstance, inst.id).status == "completed"
