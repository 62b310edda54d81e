"""Instance state on disk: compact, spec-free, pruned of history the engine no longer needs."""

from __future__ import annotations

import json
import zlib
from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState

from engine.errors import StateFormatError
from engine.spiff.serializer import SERIALIZER_VERSION, workflow_from_dict
from engine.spiff.state_json import workflow_json

# Version 1: zlib-compressed JSON of SpiffWorkflow's workflow dict minus `spec`/`subprocess_specs`,
# plus {"format": 1, "spiff": <serializer version>} (written by state_json without building the dict).
# The spec is rebuilt from the process version.
STATE_FORMAT = 1
SUPPORTED_FORMATS = frozenset({1})
_TAIL = f',"format":{STATE_FORMAT},"spiff":{json.dumps(SERIALIZER_VERSION, ensure_ascii=False)}'


def dump_state(workflow: Any) -> bytes:
    """Serialise a workflow without its spec."""
    return dump_state_checked(workflow)[0]


def dump_state_checked(workflow: Any) -> tuple[bytes, bool]:
    """Serialise a workflow; also tell whether loading the bytes gives back exactly this workflow's data.

    Dates and decimals become text and numbers, tuples become lists: such a workflow must be reloaded
    from its bytes, so the next step sees what any other process would see.
    """
    found: list[Any] = []
    raw = workflow_json(workflow, found, _TAIL)
    # Only the parts taken from data can change on the way through JSON: Spiff's own fields are plain
    # str, int, float and bool.
    return zlib.compress(raw.encode("utf-8"), 6), round_trips(found)


def round_trips(value: Any) -> bool:
    """Tell whether decoding the value's JSON gives back an equal value of the same types."""
    # One walk instead of decoding the text and comparing (a quarter of the dump's time). Exact types only:
    # a tuple or a subclass comes back as a plain list, dict, str or int; a non-str key as text; nan
    # never equals itself; a date or decimal (which json.dumps writes as text or a number) is none of the
    # types kept. Called after json.dumps, which refuses cycles and unknown types first.
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            push(item.values())
        elif kind is list:
            push(item)
        elif kind is float:
            if item != item:
                return False
        elif kind is not str and kind is not int and kind is not bool and item is not None:
            return False
    return True


def read_state_dict(blob: bytes, state_format: int) -> dict[str, Any]:
    """Decode stored state, refusing formats this engine does not know."""
    if state_format not in SUPPORTED_FORMATS:
        raise StateFormatError(f"stored state format {state_format} is not supported "
                               f"(this engine reads {sorted(SUPPORTED_FORMATS)})")
    try:
        dct: dict[str, Any] = json.loads(zlib.decompress(blob).decode("utf-8"))
    except (zlib.error, ValueError) as exc:
        raise StateFormatError(f"stored state is unreadable: {exc}") from exc
    if dct.get("format") != state_format:
        raise StateFormatError(f"stored state says format {dct.get('format')}, row says {state_format}")
    return dct


def load_state(blob: bytes, state_format: int, spec: Any, subprocess_specs: dict[str, Any],
               script_engine: Any) -> Any:
    """Rebuild a workflow from stored state and its (cached) spec."""
    dct = read_state_dict(blob, state_format)
    dct.pop("format")
    dct.pop("spiff", None)
    return workflow_from_dict(dct, spec, subprocess_specs, script_engine)


def prune(workflow: Any) -> int:
    """Cut finished tasks above the lowest common ancestor of unfinished ones; return how many.

    SpiffWorkflow never drops completed tasks, so a rework loop makes the tree (and every step and
    the stored state) grow with each iteration, and its task iterator gives up at depth 1000. The
    engine's own history table keeps the record, so the tree only needs what can still run.
    """
    unfinished = [t for t in workflow.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not unfinished:
        return 0
    # Ancestor chain of the first unfinished task, root first.
    chain: list[Any] = []
    node = unfinished[0]
    while node is not None:
        chain.append(node)
        node = node.parent
    chain.reverse()
    index = {id(t): i for i, t in enumerate(chain)}
    deepest = len(chain) - 1
    for task in unfinished[1:]:
        node = task
        while id(node) not in index:
            node = node.parent
        deepest = min(deepest, index[id(node)])
    # An unfinished task keeps its parent: a waiting event re-reads the parent's data on every refresh.
    if deepest > 0 and not chain[deepest].has_state(TaskState.FINISHED_MASK):
        deepest -= 1
    new_root = chain[deepest]
    if new_root is workflow.task_tree:
        return 0
    keep: set[UUID] = set()
    stack = [new_root]
    while stack:
        task = stack.pop()
        keep.add(task.id)
        stack.extend(task.children)
    dropped = [tid for tid in workflow.tasks if tid not in keep]
    for tid in dropped:
        del workflow.tasks[tid]
        workflow.subprocesses.pop(tid, None)
    new_root._parent = None
    workflow.task_tree = new_root
    if workflow.last_task is not None and workflow.last_task.id not in keep:
        workflow.last_task = None
    return len(dropped)
