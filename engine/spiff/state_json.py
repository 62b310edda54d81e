"""State format 1's JSON text written straight from a workflow: what json.dumps gives for Spiff's dict.

Building Spiff's dict (a registry dispatch, eleven keys and three UUID-to-text conversions per task)
and encoding it (the 3.11 encoder makes a string object per key, separator and value) took two thirds
of a dump. Here only the parts taken from data go through the JSON encoder; Spiff's own ids, states,
times and names go into one f-string per task. tests/engine/test_state_json.py holds the text equal
to `json.dumps(workflow_to_dict(...))` over process scenarios and every kind of data.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring
from types import ModuleType
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task

from engine.spiff.serializer import convert

SEPARATORS = (",", ":")
_INFINITY = float("inf")
Dumps = Callable[[Any], str]


def json_default(value: Any) -> Any:
    """Encode the few non-JSON values task data may hold (dates, decimals)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"value of type {type(value).__name__} cannot be stored in instance data")


def _encoder() -> Dumps:
    """Return json.dumps(value, separators=SEPARATORS, default=json_default, ensure_ascii=False)."""
    # The encoder json.dumps builds per call, built once per dump: its markers (the containers being
    # encoded, to refuse cycles) are empty between values, so the dump's values can share it.
    encode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        {}, json_default, encode_basestring, None, SEPARATORS[1], SEPARATORS[0], False, False, True)

    def dumps(value: Any) -> str:
        # Scalars and empty containers as the encoder writes them, without its call and chunk list.
        kind = type(value)
        if kind is str:
            return encode_basestring(value)
        if kind is int:
            return int.__repr__(value)
        if kind is bool:
            return "true" if value else "false"
        if kind is float and -_INFINITY < value < _INFINITY:
            return float.__repr__(value)
        if value is None:
            return "null"
        if kind is dict and not value:
            return "{}"
        if kind is list and not value:
            return "[]"
        return "".join(encode(value, 0))
    return dumps


def workflow_json(workflow: Any, found: list[Any], tail: str = "") -> str:
    """Return the JSON text of `workflow_to_dict(workflow)`, `tail` (`,"key":value…`) before its last brace.

    Append to `found` each part of it taken from workflow, task or event data; the rest is Spiff's own
    ids, states, times and names.
    """
    if type(workflow) is not BpmnWorkflow:
        raise TypeError(f"a {type(workflow).__name__} is not a workflow the engine stores")
    dumps = _encoder()
    events = convert(workflow.bpmn_events)
    found.append(events)
    subprocesses = ",".join(f"{dumps(str(tid))}:{_subworkflow_json(sub, found, dumps)}"
                            for tid, sub in workflow.subprocesses.items())
    return (f'{{{_shared_json(workflow, found, dumps)},"subprocesses":{{{subprocesses}}},'
            f'"bpmn_events":{dumps(events)},"typename":"BpmnWorkflow"{tail}}}')


def _subworkflow_json(subworkflow: Any, found: list[Any], dumps: Dumps) -> str:
    """Return the JSON text of what the registry gives for a subprocess."""
    if type(subworkflow) is not BpmnSubWorkflow:
        converted = convert(subworkflow)
        found.append(converted)
        return dumps(converted)
    return (f'{{{_shared_json(subworkflow, found, dumps)},'
            f'"parent_task_id":{dumps(str(subworkflow.parent_task_id))},'
            f'"spec":{dumps(subworkflow.spec.name)},"typename":"BpmnSubWorkflow"}}')


def _clean(value: Any) -> Any:
    """Convert data as the registry does: a dict is copied without callables and modules, no deeper."""
    if type(value) is dict:
        return {k: v for k, v in value.items() if not callable(v) and not isinstance(v, ModuleType)}
    return convert(value)


def _shared_json(workflow: Any, found: list[Any], dumps: Dumps) -> str:
    """Return the members of WorkflowConverter.to_dict's dict, without braces."""
    data = _clean(workflow.data)  # Spiff cleans it twice, which gives the same copy
    found.append(data)
    found.append(workflow.correlations)
    last_task = workflow.last_task
    return (f'"data":{dumps(data)},"correlations":{dumps(workflow.correlations)},'
            f'"last_task":{"null" if last_task is None else dumps(str(last_task.id))},'
            f'"success":{dumps(workflow.success)},"completed":{dumps(workflow.completed)},'
            f'"tasks":{{{_tasks_json(workflow.tasks, found, dumps)}}},'
            f'"root":{dumps(str(workflow.task_tree.id))}')


def _tasks_json(tasks: dict[UUID, Any], found: list[Any], dumps: Dumps) -> str:
    """Return the members of mapping_to_dict(tasks): each task's TaskConverter.to_dict by its id's text."""
    # Tasks are looked up by the id's integer, not the UUID, which hashes and compares in Python code
    # (UUIDs are equal exactly when their integers are). Each id is made text once; the text is hex
    # digits and dashes, with nothing to escape. Spiff keys each task by its own id.
    by_int = {tid.int: task for tid, task in tasks.items()}
    texts = {tid.int: str(tid) for tid in tasks}
    members = []
    for tid, task in tasks.items():
        text = texts[tid.int]
        if type(task) is not Task:
            converted = convert(task)
            found.append(converted)
            members.append(f'"{text}":{dumps(converted)}')
            continue
        parent_id = task._parent
        parent = None if parent_id is None else by_int.get(parent_id.int)  # task.parent
        if parent is None:
            found.append(task.data)
            parent_text, data, delta = "null", dumps(task.data), "{}"
        else:  # DeepMerge.get_updated_keys and get_deleted_keys, inline
            before, after = parent.data, task.data
            updates = {key: after[key] for key in after if key not in before or after[key] != before[key]}
            deletions = [key for key in before if key not in after]
            # Most tasks have neither: empty ones need no encoding and no faithfulness check.
            if updates:
                found.append(updates)
            if deletions:
                found.append(deletions)
            parent_text, data = f'"{texts[parent_id.int]}"', "{}"
            delta = (f'{{"updates":{dumps(updates) if updates else "{}"},'
                     f'"deletions":{dumps(deletions) if deletions else "[]"}}}')
        internal_data = task.internal_data
        if internal_data or type(internal_data) is not dict:
            internal_data = _clean(internal_data)
            found.append(internal_data)
            internal_text = dumps(internal_data)
        else:
            internal_text = "{}"
        children = ",".join([f'"{texts.get(child.int) or child}"' for child in task._children])
        members.append(
            f'"{text}":{{"id":"{text}","parent":{parent_text},"children":[{children}],'
            f'"last_state_change":{dumps(task.last_state_change)},'
            f'"state":{dumps(task._state)},"task_spec":{dumps(task.task_spec.name)},'
            f'"triggered":{dumps(task.triggered)},"internal_data":{internal_text},"data":{data},'
            f'"delta":{delta},"typename":"Task"}}')
    return ",".join(members)
