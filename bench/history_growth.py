"""Figure 2: cost of one step and all-in stored bytes after 1, 100 and 1,000 iterations of a rework loop."""

from __future__ import annotations

import tempfile
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.runtime import Actor
from engine.store.unit_of_work import run_unit
from tests.bpmn_builder import Process, field_xml

from .common import (
    Database,
    Results,
    add_users,
    bench_engine,
    heading,
    median,
    raw_complete,
    raw_ready_user_tasks,
    raw_script_engine,
    raw_start,
    say,
    sqlite_database,
)
from .spiff_peer import fair_bytes
from .stored_size import stored_bytes

WINDOW = 11  # a checkpoint's cost is the median of this many consecutive steps starting there
TARGET = 3.0
ACTOR = Actor("cs_assistant", frozenset({"cs_assistant"}))


def rework_loop() -> str:
    """Return a process whose user task loops back on itself until `done` (as in tests/engine/test_state)."""
    p = Process("rework")
    p.start()
    p.user("work", "cs_assistant", [field_xml("done", "boolean", required=True), field_xml("note", "text")])
    p.xor("again", default="back")
    p.end("end", outcome="closed")
    p.chain("start", "work", "again")
    p.flow("again", "end", "done")
    p.flow("again", "work", fid="back")
    return p.xml()


def _engine_run(db: Database, iterations: int, checkpoints: list[int]
                ) -> tuple[list[float], dict[int, dict[str, int]]]:
    """Loop `iterations` times through the engine; return per-step seconds and stored bytes at checkpoints."""
    engine = bench_engine()
    with db.factory() as s:
        add_users(s, {"cs_assistant": "cs_assistant"})
        engine.deploy(s, rework_loop())
        warm = engine.start(s, "rework", {}, ACTOR)
        inst = engine.start(s, "rework", {}, ACTOR)
        s.commit()
        instance_id = inst.id
    for i in range(WINDOW):  # a first instance takes the one-off costs (spec cache, pool, statements)
        with db.factory() as s:
            [row] = engine.open_tasks(s, warm.id)
            run_unit(s, partial(engine.complete, s, row.id, {"done": False, "note": f"warm-up {i}"}, ACTOR))
    steps: list[float] = []
    sizes: dict[int, dict[str, int]] = {}
    for i in tqdm(range(1, iterations + 1), desc="  rework loop, engine", unit="step", leave=False):
        started = time.perf_counter()
        with db.factory() as s:
            left = engine.open_tasks(s, instance_id)
            if not left:
                raise RuntimeError(f"engine: no open task at iteration {i}")
            row = left[0]
            inst = run_unit(s, partial(engine.complete, s, row.id, {"done": False, "note": f"round {i}"},
                                                       ACTOR)).unwrap()
            steps.append(time.perf_counter() - started)
            if inst.status != "running":
                raise RuntimeError(f"engine: instance {inst.status} at iteration {i}")
            if i in checkpoints:
                sizes[i] = stored_bytes(s, instance_id)
    return steps, sizes


def _raw_run(iterations: int, checkpoints: list[int], limit_s: float
             ) -> tuple[list[float], dict[int, int], str]:
    """Loop in raw Spiff, serializing after each step as an application must; stop at a stall or the limit."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer

    parser = BpmnParser()
    parser.add_bpmn_str(rework_loop().encode())
    serializer = BpmnWorkflowSerializer()
    warm = raw_start(parser.get_spec("rework"), {}, raw_script_engine(), {})
    for i in range(WINDOW):
        raw_complete(warm, raw_ready_user_tasks(warm)[0], {"done": False, "note": f"warm-up {i}"})
        serializer.serialize_json(warm)
    workflow = raw_start(parser.get_spec("rework"), {}, raw_script_engine(), {})
    steps: list[float] = []
    sizes: dict[int, int] = {}
    stopped = ""
    deadline = time.perf_counter() + limit_s
    bar = tqdm(range(1, iterations + 1), desc="  rework loop, raw Spiff", unit="step", leave=False)
    for i in bar:
        ready = raw_ready_user_tasks(workflow)
        if not ready:
            stopped = (f"stalled at iteration {i - 1}: no ready task, is_completed()="
                       f"{workflow.is_completed()} (task depth {_depth(workflow)})")
            break
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            raw_complete(workflow, ready[0], {"done": False, "note": f"round {i}"})
            serializer.serialize_json(workflow)
        steps.append(time.perf_counter() - started)
        if i in checkpoints:
            sizes[i] = fair_bytes(serializer, workflow)
        if time.perf_counter() > deadline:
            stopped = f"stopped by the {limit_s:.0f} s time limit at iteration {i}"
            break
    bar.close()
    if stopped and steps:
        sizes.setdefault(len(steps), fair_bytes(serializer, workflow))
    return steps, sizes, stopped


def _depth(workflow: Any) -> int:
    """Return the depth of the deepest task of a workflow's tree."""
    deepest = 0
    for task in workflow.tasks.values():
        d, node = 0, task
        while node.parent is not None:
            d, node = d + 1, node.parent
        deepest = max(deepest, d)
    return deepest


def _at(steps: list[float], checkpoint: int) -> float:
    """Return the median seconds of the WINDOW steps from a 1-based checkpoint (or the last ones)."""
    start = min(checkpoint, max(1, len(steps) - WINDOW + 1)) - 1
    return median(steps[start:start + WINDOW])


def run(results: Results, quick: bool, use_pg: bool) -> None:
    """Measure per-step cost and stored size along a long rework loop, engine vs raw Spiff."""
    checkpoints = [1, 30, 100] if quick else [1, 100, 1000]
    iterations = checkpoints[-1] + WINDOW - 1
    heading(f"2 History growth: a one-task rework loop, {iterations} iterations; step = complete + persist")
    with tempfile.TemporaryDirectory() as tmp, sqlite_database(Path(tmp)) as db:
        steps, sizes = _engine_run(db, iterations, checkpoints)
    raw_steps, raw_sizes, stopped = _raw_run(iterations, checkpoints, 15.0 if quick else 90.0)
    first, last = _at(steps, checkpoints[0]), _at(steps, checkpoints[-1])
    growth = last / first
    def all_in(c: int) -> int:
        return sizes[c]["row"] + sizes[c]["inbox"] + sizes[c]["history"]

    for c in checkpoints:
        raw_c = f"{_at(raw_steps, c) * 1000:6.2f} ms, {raw_sizes[c]:>8,} B" if c in raw_sizes else \
            "  — not reached"
        say(f"iteration {c:>5}: engine {_at(steps, c) * 1000:6.2f} ms/step, all-in {all_in(c):>9,} B "
            f"(row {sizes[c]['row']:>6,} B); raw Spiff (spec-free, zlib) {raw_c}")
    reached = len(raw_steps)
    raw_growth = _at(raw_steps, reached) / _at(raw_steps, 1)
    if stopped:
        say(f"raw Spiff {stopped}; its last step cost {raw_growth:.0f}× its first")
    raw_text = f"{raw_growth:.0f}× at it. {reached}" + (" (stalled)" if "stalled" in stopped else "")
    results.add(f"2 history growth: step {checkpoints[-1]} / step 1", f"{growth:.2f}×", raw_text,
                f"{raw_growth / growth:.0f}× flatter", f"< {TARGET:.0f}×", growth < TARGET)
    # Stored bytes compare like with like: engine all-in (row + inbox + history) against Spiff's own
    # spec-free dict, zlib-compressed, at the same iteration; where raw Spiff stalled there is no peer.
    for c in checkpoints:
        engine_b, label = all_in(c), f"2 stored all-in bytes at iteration {c}"
        shown = f"{engine_b:,} B ({engine_b / c:,.0f} B/it.)"
        if c in raw_sizes:
            raw_b = raw_sizes[c]
            results.add(label, shown, f"{raw_b:,} B ({raw_b / c:,.0f} B/it.)", f"{engine_b / raw_b:.2f}",
                        "≤ 1.0×", engine_b <= raw_b)
        else:
            results.add(label, shown, f"not reached ({stopped.split(':')[0]})", "", "≤ 1.0×", "—")
    slope = (all_in(checkpoints[-1]) - all_in(checkpoints[0])) / (checkpoints[-1] - checkpoints[0])
    say(f"engine all-in bytes grow {slope:,.0f} B per iteration (history rows; the instance row stays flat: "
        f"{sizes[checkpoints[0]]['row']:,} → {sizes[checkpoints[-1]]['row']:,} B)")
