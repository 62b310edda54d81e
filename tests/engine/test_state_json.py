"""Stored state text: written straight from the workflow, it is exactly json.dumps of Spiff's own dict."""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any
from uuid import uuid4

import pytest
from SpiffWorkflow.task import Task
from sqlalchemy.orm import Session

import engine.runtime as runtime
from engine import definitions
from engine.runtime import Actor, Engine
from engine.spiff.script_engine import SandboxScriptEngine
from engine.spiff.serializer import SERIALIZER_VERSION, workflow_to_dict
from engine.spiff.state import STATE_FORMAT, dump_state_checked, round_trips
from engine.spiff.state_json import SEPARATORS, json_default
from engine.spiff.tasks import new_workflow, ready_user_tasks
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0
from tests.engine.test_state import rework_workflow_with
from tests.processes.helpers import Scenario, deploy_all
from tests.processes.test_repair_dispatch import ask_for_substitute, callback, dispatch, repair, request


def spiff_text(workflow: Any) -> str:
    """Return state format 1's text as Spiff's converters and json.dumps make it."""
    dct = workflow_to_dict(workflow)
    dct["format"] = STATE_FORMAT
    dct["spiff"] = SERIALIZER_VERSION
    return json.dumps(dct, separators=SEPARATORS, default=json_default, ensure_ascii=False)


def assert_stored_as_spiff_writes_it(workflow: Any) -> None:
    """Assert the dump's text is Spiff's dict as JSON, and its faithfulness that of the whole dict."""
    blob, faithful = dump_state_checked(workflow)
    assert zlib.decompress(blob).decode("utf-8") == spiff_text(workflow)
    assert faithful is round_trips(workflow_to_dict(workflow))


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Check every state the engine stores against Spiff's dict as JSON; count them."""
    seen: list[int] = []
    real = runtime.dump_state_checked

    def checked(workflow: Any) -> tuple[bytes, bool]:
        assert_stored_as_spiff_writes_it(workflow)
        seen.append(len(workflow.tasks))
        return real(workflow)

    monkeypatch.setattr(runtime, "dump_state_checked", checked)
    return seen


@pytest.fixture
def sc(session: Session, engine: Engine, people: dict[str, Actor]) -> Scenario:
    """Return a repair-process scenario driver (the shipped processes deployed)."""
    deploy_all(session, engine)
    return Scenario(session, engine, people, T0)


def test_every_state_of_a_repair_case_is_stored_as_spiff_writes_it(sc: Scenario, compared: list[int]) -> None:
    # Parallel branches (the charge-back), timers fired and escalated, a rework loop, a closed case.
    sc.start("repair_dispatch", request("repair"), "cs_assistant")
    dispatch(sc, substitute_repair=True)
    ask_for_substitute(sc)
    sc.do("approve_substitute_repair", "project_manager", {"substitute_approved": True})
    sc.do("follow_up_arrival", "engineering_dispatcher", {"follow_up_note": "代維人員進場中"})
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    assert sc.fire(sc.due("callback")) is True
    sc.do("record_chargeback", "project_manager", {"substitute_cost": 1150.5, "chargeback_note": "扣回"})
    sc.do("callback", "cs_assistant", callback(satisfied=False))
    sc.do("repair", "technician", {"result": "再次維修", "fixed": True})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    sc.do("follow_up_callback", "cs_supervisor", {"follow_up_note": "已督促回訪"})
    sc.assert_ended("closed")
    assert len(compared) >= 12 and max(compared) >= 10


def with_subprocess() -> str:
    """Return a process whose embedded subprocess holds a user task."""
    p = Process("with_sub")
    p.start()
    p.nodes.append(
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start"/>'
        '<bpmn:userTask id="s_work" name="s_work"><bpmn:extensionElements><pf:label lang="en">work</pf:label>'
        f'<pf:form>{field_xml("done", "boolean")}</pf:form></bpmn:extensionElements></bpmn:userTask>'
        '<bpmn:endEvent id="s_end"/><bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_work"/>'
        '<bpmn:sequenceFlow id="s2" sourceRef="s_work" targetRef="s_end"/></bpmn:subProcess>')
    p.lanes["cs_assistant"] = ["sub", "s_work"]
    p.end("end", outcome="closed")
    p.chain("start", "sub", "end")
    return p.xml()


def test_a_subprocess_is_stored_as_spiff_writes_it() -> None:
    compiled = definitions.compile_process(with_subprocess())
    workflow = new_workflow(compiled.spec, compiled.subprocess_specs, SandboxScriptEngine(), {"a": "u"})
    workflow.do_engine_steps()
    assert len(workflow.subprocesses) == 1
    assert_stored_as_spiff_writes_it(workflow)
    [work] = ready_user_tasks(workflow)
    work.data["done"] = True
    work.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert_stored_as_spiff_writes_it(workflow)


class Text(str):
    """A str subclass."""


class Level(IntEnum):
    """An int subclass."""

    HIGH = 3


VALUES = [
    "文字", 'quote " and back \\ slash', "\n\t\x00\x1f", "\u2028\u2029😀", 0, -1, 10**30, 1.5, -0.0, 1e16,
    1e-7, float("inf"), float("-inf"), float("nan"), True, False, None, [], {}, [1, [2, {"a": None}]],
    {"nested": {"deep": [1.5, "x"]}}, (1, "x"), date(2026, 1, 2), datetime(2026, 1, 2, 3, tzinfo=UTC),
    Decimal("1.25"), {1: "int key"}, {True: "bool key"}, {None: "None key"}, {1.5: "float key"},
    Text("x"), Level.HIGH, OrderedDict(a=1),
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:30] for v in VALUES])
def test_data_of_every_kind_is_stored_as_spiff_writes_it(value: Any) -> None:
    workflow = rework_workflow_with({"v": value, "own": [value]})
    # The same object in every task: Spiff's delta compares it with itself (nan differs from itself).
    for task in workflow.tasks.values():
        task.data.setdefault("v", value)
    workflow.data["v"] = value
    workflow.correlations["v"] = value
    ready_user_tasks(workflow)[0].internal_data["v"] = value
    assert_stored_as_spiff_writes_it(workflow)


def test_deleted_data_and_callables_are_stored_as_spiff_writes_them() -> None:
    workflow = rework_workflow_with({"note": "x"})
    [ready] = ready_user_tasks(workflow)
    ready.data.pop("initiator")
    ready.internal_data.update(helper=len, module=json, kept=1)
    workflow.data.update(helper=print, module=zlib, kept=2)
    assert_stored_as_spiff_writes_it(workflow)


def test_tasks_pointing_outside_the_tree_are_stored_as_spiff_writes_them() -> None:
    workflow = rework_workflow_with({"note": "x"})
    [ready] = ready_user_tasks(workflow)
    # Ids of no task (Spiff's own accessors take tasks): Spiff writes no parent and the whole data.
    ready._parent = uuid4()  # noqa: SLF001
    workflow.task_tree._children.append(uuid4())  # noqa: SLF001
    assert_stored_as_spiff_writes_it(workflow)


@pytest.mark.parametrize(("value", "error"), [
    ({1, 2}, TypeError), (b"bytes", TypeError), (object(), TypeError), ("cycle", ValueError)])
def test_what_json_refuses_is_refused_alike(value: Any, error: type[Exception]) -> None:
    if value == "cycle":
        value = []
        value.append(value)
    workflow = rework_workflow_with({"v": value})
    with pytest.raises(error) as from_spiff:
        spiff_text(workflow)
    with pytest.raises(error) as stored:
        dump_state_checked(workflow)
    assert str(stored.value) == str(from_spiff.value)


def test_a_task_of_another_class_is_refused_as_spiffs_dict_would_be() -> None:
    class OtherTask(Task):
        """A task class the registry does not know."""

    workflow = rework_workflow_with({})
    OtherTask(workflow, workflow.task_tree.task_spec, parent=workflow.task_tree)
    with pytest.raises(TypeError) as from_spiff:
        spiff_text(workflow)
    with pytest.raises(TypeError) as stored:
        dump_state_checked(workflow)
    assert str(stored.value) == str(from_spiff.value)


def place(workflow: Any, where: str, value: Any) -> None:
    """Put a value in one part of a workflow only."""
    [ready] = ready_user_tasks(workflow)
    if where == "workflow data":
        workflow.data["v"] = value
    elif where == "correlations":
        workflow.correlations["v"] = value
    elif where == "root task data":
        workflow.task_tree.data["v"] = value
    elif where == "a task's update":
        ready.data["v"] = value
    else:
        ready.internal_data["v"] = value


PLACES = ["workflow data", "correlations", "root task data", "a task's update", "internal data"]


@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize(("value", "faithful"), [((1, 2), False), (Text("x"), False), ("x", True), (2, True)],
                         ids=["tuple", "str subclass", "str", "int"])
def test_faithfulness_is_that_of_the_whole_dict_wherever_the_value_sits(
        where: str, value: Any, faithful: bool) -> None:
    workflow = rework_workflow_with({})
    place(workflow, where, value)
    assert dump_state_checked(workflow)[1] is faithful
    assert_stored_as_spiff_writes_it(workflow)


@pytest.mark.parametrize(("field", "value"), [
    ("last_state_change", float("nan")), ("last_state_change", float("inf")), ("last_state_change", 7),
    ("_state", Level.HIGH), ("_state", 16.0), ("triggered", 1), ("triggered", None)])
def test_spiffs_own_fields_of_other_types_are_written_as_json_writes_them(field: str, value: Any) -> None:
    # Spiff sets only plain values here; were it to change, the text would still be Spiff's dict as JSON.
    workflow = rework_workflow_with({})
    setattr(ready_user_tasks(workflow)[0], field, value)
    assert zlib.decompress(dump_state_checked(workflow)[0]).decode("utf-8") == spiff_text(workflow)
