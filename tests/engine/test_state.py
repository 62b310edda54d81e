"""Stored state: spec-free, pruned, versioned; long rework loops neither stall nor grow."""

from __future__ import annotations

import json
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import definitions
from engine.errors import StateFormatError
from engine.runtime import Actor, Engine
from engine.spiff.script_engine import SandboxScriptEngine
from engine.spiff.state import (
    STATE_FORMAT,
    dump_state,
    dump_state_checked,
    load_state,
    read_state_dict,
    round_trips,
)
from engine.spiff.tasks import new_workflow, ready_user_tasks
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


def frozen_sample() -> tuple[dict[str, Any], bytes]:
    """Return the frozen format-1 state dict and a blob holding it."""
    state = json.loads((DATA / "state_v1.json").read_text())["state"]
    return state, zlib.compress(json.dumps(state).encode())


def test_frozen_sample_dumps_back_to_the_same_bytes() -> None:
    state, blob = frozen_sample()
    compiled = definitions.compile_process(rework_loop())
    workflow = load_state(blob, STATE_FORMAT, compiled.spec, compiled.subprocess_specs, None)
    raw = zlib.decompress(dump_state(workflow)).decode("utf-8")
    assert raw == json.dumps(state, separators=(",", ":"), ensure_ascii=False)


def test_a_dumped_sample_loads_with_the_same_tasks_and_data() -> None:
    _, blob = frozen_sample()
    compiled = definitions.compile_process(rework_loop())
    first = load_state(blob, STATE_FORMAT, compiled.spec, compiled.subprocess_specs, None)
    again = load_state(dump_state(first), STATE_FORMAT, compiled.spec, compiled.subprocess_specs, None)

    def tasks(workflow: Any) -> list[tuple[str, str, int, dict[str, Any]]]:
        return [(str(t.id), t.task_spec.name, t.state, t.data) for t in workflow.tasks.values()]

    assert tasks(again) == tasks(first) and len(tasks(first)) == 6
    assert again.data == first.data and again.task_tree.id == first.task_tree.id


def rework_workflows(count: int) -> list[Any]:
    """Return in-memory rework workflows, each a different number of rounds in, with dated data."""
    compiled = definitions.compile_process(rework_loop())
    workflows = []
    for n in range(count):
        workflow = new_workflow(compiled.spec, compiled.subprocess_specs, SandboxScriptEngine(),
                                {"initiator": f"user{n}"})
        workflow.do_engine_steps()
        for i in range(n % 6):
            task = ready_user_tasks(workflow)[0]
            task.data.update({"done": False, "note": f"instance {n} round {i}"})
            task.run()
            workflow.do_engine_steps()
        # Workflow data is where Spiff's two conversion paths differ (a datetime stays one or becomes
        # a typed dict), so a conversion racing another thread's would change these bytes.
        workflow.data["opened"] = datetime(2026, 1, 1 + n % 28, tzinfo=UTC)
        workflows.append(workflow)
    return workflows


def test_concurrent_dumps_give_the_bytes_of_serial_dumps() -> None:
    # Toggling a flag on a shared registry around each dump (as Spiff's own serialize_json does) went
    # wrong about once in 500 dumps here: 2,560 make that failure all but certain to show.
    rounds = 20
    workflows = rework_workflows(16)
    serial = [dump_state(w) for w in workflows]
    assert len(set(serial)) == len(serial)

    def dump_all(offset: int) -> list[tuple[int, bytes]]:
        order = [(offset + k) % len(workflows) for k in range(len(workflows))] * rounds
        return [(i, dump_state(workflows[i])) for i in order]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so a race shows
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = [pair for batch in pool.map(dump_all, range(8)) for pair in batch]
    finally:
        sys.setswitchinterval(interval)
    assert len(results) == 8 * rounds * 16
    assert all(blob == serial[i] for i, blob in results)


def rework_workflow_with(data: dict[str, Any]) -> Any:
    """Return a fresh rework workflow whose ready task holds these values."""
    compiled = definitions.compile_process(rework_loop())
    workflow = new_workflow(compiled.spec, compiled.subprocess_specs, SandboxScriptEngine(),
                            {"initiator": "u"})
    workflow.do_engine_steps()
    ready_user_tasks(workflow)[0].data.update(data)
    return workflow


def test_a_workflow_of_plain_json_data_is_reported_faithful() -> None:
    plain = {"s": "文字", "i": 3, "f": 1.5, "inf": float("inf"), "zero": -0.0, "b": True, "n": None,
             "l": [1, "x", [False], {"k": 2.0}], "d": {"nested": {"deep": [None]}}, "big": 10**30}
    assert dump_state_checked(rework_workflow_with(plain))[1] is True


class Text(str):
    """A str subclass: JSON hands back a plain str."""


@pytest.mark.parametrize("value", [
    (1, 2), [1, (2,)], date(2026, 1, 2), datetime(2026, 1, 2, tzinfo=UTC), Decimal("1.5"), {1: "a"},
    {True: "a"}, {None: "a"}, {"k": {1.5: "a"}}, float("nan"), [float("nan")], Text("x"),
], ids=["tuple", "nested tuple", "date", "datetime", "decimal", "int key", "bool key", "None key",
        "nested float key", "nan", "nan in list", "str subclass"])
def test_data_json_would_change_is_reported_unfaithful(value: Any) -> None:
    assert dump_state_checked(rework_workflow_with({"v": value}))[1] is False


def test_a_set_in_task_data_is_refused_as_before() -> None:
    with pytest.raises(TypeError, match="set cannot be stored"):
        dump_state_checked(rework_workflow_with({"v": {1, 2}}))


@pytest.mark.parametrize(("value", "expected"), [
    ({"a": [1, 2.5, "x", None, True, {"b": []}]}, True), ([], True), ({}, True), ("x", True), (0, True),
    (float("-inf"), True), ((1,), False), ({2: 3}, False), (float("nan"), False), ([[[(1,)]]], False),
    ({"a": {"b": {3.0: 1}}}, False), ([{"a": [None, {"b": float("nan")}]}], False),
])
def test_round_trips_tells_whether_json_gives_back_an_equal_value_of_the_same_types(
        value: Any, expected: bool) -> None:
    assert round_trips(value) is expected
