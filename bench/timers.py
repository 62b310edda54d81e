"""Timer bench: N instances waiting on deadlines; delay from due time to committed firing, 1 and 2 workers.

Each run: a fresh database holds N instances whose `arrive` task has a deadline timer. A share of
them (`--spread`) fall due evenly over `--window` seconds — the latency figures (p50/p95/p99/max
of commit time minus due time); the rest fall due together a little later — a backlog burst that
gives the firing throughput. Worker processes run `engine.worker.Worker` on the real clock, exactly
as `bpm worker` does. The reference is raw SpiffWorkflow in memory doing the same work per firing:
deserialize a workflow with a waiting timer, refresh_waiting_tasks, do_engine_steps, serialize.

Instances are cloned from one started through the engine (state blob with fresh task ids and its
own due time, plus its inbox row) so that 10,000 are ready in seconds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import signal
import statistics
import tempfile
import threading
import time
import uuid
import warnings
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from department.domain import register
from engine.calendar import BusinessCalendar
from engine.runtime import Actor, Engine
from engine.store.db import create_schema, make_engine, make_session_factory
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from engine.worker import Worker, wake_local

from .common import PG_URL, pg_reachable

# A due time no run reaches (within the engine's 10-year timer horizon), replaced per instance below.
PLACEHOLDER = f"{datetime.now(UTC).year + 2}-12-31T23:59:59+00:00"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PF = "https://propertyflow.dev/schema/bpmn/1"
BPMN_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:pf="{PF}"
    id="defs_bench" targetNamespace="http://example.org/bench">
  <bpmn:process id="bench_timer" name="計時基準" isExecutable="true">
    <bpmn:extensionElements><pf:label lang="en">Timer bench</pf:label></bpmn:extensionElements>
    <bpmn:laneSet id="ls"><bpmn:lane id="l_tech" name="technician"><bpmn:flowNodeRef>arrive</bpmn:flowNodeRef>
      </bpmn:lane><bpmn:lane id="l_disp" name="engineering_dispatcher">
      <bpmn:flowNodeRef>follow_up</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:extensionElements><pf:form>
      <pf:field name="due" type="text" required="true" label-zh="到期" label-en="Due"/>
    </pf:form></bpmn:extensionElements></bpmn:startEvent>
    <bpmn:userTask id="arrive" name="到場"><bpmn:extensionElements><pf:label lang="en">Arrive</pf:label>
      <pf:form/></bpmn:extensionElements></bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="arrive" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDate>due</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="follow_up" name="跟進"><bpmn:extensionElements><pf:label lang="en">Follow up</pf:label>
      <pf:form/></bpmn:extensionElements></bpmn:userTask>
    <bpmn:endEvent id="end"/><bpmn:endEvent id="fu_end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="arrive"/>
    <bpmn:sequenceFlow id="f2" sourceRef="arrive" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="follow_up"/>
    <bpmn:sequenceFlow id="f4" sourceRef="follow_up" targetRef="fu_end"/>
  </bpmn:process>
</bpmn:definitions>"""


def _bind(url: str, schema: str | None) -> SqlEngine:
    """Return an engine; on PostgreSQL confined to the run's own schema."""
    if schema:
        return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    return make_engine(url)


def _engine() -> Engine:
    return Engine(calendar=BusinessCalendar(country=None))


def populate(bind: SqlEngine, offsets: list[float], lead: float) -> tuple[list[int], list[datetime]]:
    """Start one instance through the engine, clone it with due times `lead` + offset seconds from now."""
    factory = make_session_factory(bind)
    engine = _engine()
    with factory() as s:
        engine.deploy(s, BPMN_XML)
        starter = Actor("bench", frozenset({"cs_assistant"}))
        template = engine.start(s, "bench_timer", {"due": PLACEHOLDER}, starter)
        s.flush()
        [row] = s.scalars(select(TaskRow).where(TaskRow.instance_id == template.id))
        state = zlib.decompress(template.state).decode()
        base = {c.key: getattr(template, c.key) for c in ProcessInstance.__table__.columns if c.key != "id"}
        task = {c.key: getattr(row, c.key) for c in TaskRow.__table__.columns}
        # The template itself never fires: it only lends its state.
        template.status, template.next_wakeup_at = "terminated", None
        s.commit()
        first = template.id + 1
    clones = []
    for _ in offsets:
        mapping: dict[str, str] = {}
        clones.append((UUID_RE.sub(_fresh_ids(mapping), state), mapping[task["id"]]))
    # Due times are fixed only now, so that preparing the clones does not eat into the lead.
    start = datetime.now(UTC) + timedelta(seconds=lead)
    ids, dues, instances, tasks = [], [], [], []
    for offset, (blob, task_id) in enumerate(clones):
        due = start + timedelta(seconds=offsets[offset])
        iso, iid = due.isoformat(), first + offset
        ids.append(iid)
        dues.append(due)
        state_blob = zlib.compress(blob.replace(PLACEHOLDER, iso).encode(), 6)
        instances.append({**base, "id": iid, "state": state_blob, "next_wakeup_at": due, "row_version": 1,
                          "data": {**base["data"], "due": iso, "instance_id": iid}})
        tasks.append({**task, "id": task_id, "instance_id": iid, "due_at": due})
    with factory() as s:
        for i in range(0, len(instances), 1000):
            s.execute(insert(ProcessInstance), instances[i:i + 1000])
            s.execute(insert(TaskRow), tasks[i:i + 1000])
        if bind.dialect.name == "postgresql":
            s.execute(text("SELECT setval(pg_get_serial_sequence('process_instances', 'id'), "
                           "(SELECT max(id) FROM process_instances))"))
        s.commit()
    return ids, dues


def _fresh_ids(mapping: dict[str, str]) -> Any:
    """Return a re.sub callback giving every task id of one clone a new, consistent id."""
    return lambda match: mapping.setdefault(match.group(0), str(uuid.uuid4()))


def worker_process(url: str, schema: str | None, ready: Any, out: str) -> None:
    """Child: run a Worker on the real clock until SIGTERM; write (instance, commit time) pairs."""
    register()  # a spawned child starts empty: it is an entry point of its own
    bind = _bind(url, schema)
    factory = make_session_factory(bind)
    engine = _engine()
    commits: list[tuple[int, float]] = []
    fire = engine.fire_timers

    def fire_and_mark(session: Session, instance_id: int, now: datetime | None = None) -> bool:
        fired = fire(session, instance_id, now)
        if fired:
            session.info["bench_fired"] = instance_id
        return fired

    def on_commit(session: Session) -> None:
        if not session.in_nested_transaction() and "bench_fired" in session.info:
            commits.append((session.info.pop("bench_fired"), time.time()))

    engine.fire_timers = fire_and_mark  # type: ignore[method-assign]
    event.listen(factory, "after_commit", on_commit)
    stop = threading.Event()
    worker = Worker(factory, engine, bind)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGUSR1, lambda *_: wake_local())
    threading.Timer(0.5, ready.put, args=(time.time(),)).start()
    worker.run_forever(stop)
    Path(out).write_text(json.dumps(commits))


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (nearest rank) of a list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run_case(url: str, schema: str | None, n: int, spread: int, window: float, workers: int,
             tmp: Path) -> dict[str, Any]:
    """Populate, start workers, wait until everything fired, and measure."""
    bind = _bind(url, schema)
    create_schema(bind)
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    outs = [tmp / f"commits_{workers}_{i}.json" for i in range(workers)]
    procs = [ctx.Process(target=worker_process, args=(url, schema, ready, str(o)), daemon=True) for o in outs]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)  # imported, connected, first (empty) pass done: asleep
    offsets = [window * i / max(spread, 1) for i in range(spread)] + [window + 2.0] * (n - spread)
    assert spread > 0, "at least one instance must fall due in the window"
    lead = 1.5 + n * 0.0006  # compressing and inserting the clones
    ids, dues = populate(bind, offsets, lead)
    overran = time.time() - dues[0].timestamp()
    for proc in procs:
        # What NOTIFY does on PostgreSQL; a bulk insert bypasses the engine, and SQLite has no NOTIFY.
        os.kill(proc.pid or 0, signal.SIGUSR1)
    due_of = dict(zip(ids, dues, strict=True))
    burst_at = dues[0] + timedelta(seconds=window + 2.0)
    # Reads through a plain engine: the product engine's SQLite BEGIN IMMEDIATE would queue behind workers.
    reader = create_engine(url, connect_args={"options": f"-csearch_path={schema}"}) if schema else \
        create_engine(url)
    give_up = time.time() + window + 2 + n / 20 + 60
    remaining = n
    while time.time() < give_up:
        with reader.connect() as conn:
            remaining = conn.scalar(select(func.count()).select_from(ProcessInstance).where(
                ProcessInstance.status == "running", ProcessInstance.next_wakeup_at.is_not(None))) or 0
        if remaining == 0:
            break
        time.sleep(0.25)
    for proc in procs:
        os.kill(proc.pid or 0, signal.SIGTERM)
    for proc in procs:
        proc.join(60)
    commits = [c for o in outs if o.exists() for c in json.loads(o.read_text())]
    with reader.connect() as conn:
        fired_rows = dict(conn.execute(
            select(HistoryEvent.instance_id, func.count()).where(HistoryEvent.kind == "timer_fired")
            .group_by(HistoryEvent.instance_id)).all())
    reader.dispose()
    bind.dispose()
    delays = [t - due_of[i].timestamp() for i, t in commits if due_of[i] < burst_at]
    burst = [t for i, t in commits if due_of[i] == burst_at]
    drain = (max(burst) - burst_at.timestamp()) if burst else float("nan")
    return {"workers": workers, "n": n, "spread": spread, "delays": delays,
            "burst": len(burst), "throughput": len(burst) / drain if burst and drain > 0 else float("nan"),
            "exactly_once": len(fired_rows) == n and set(fired_rows.values()) == {1} and len(commits) == n,
            "late_start": max(0.0, overran), "unfired": remaining}


def raw_spiff_rate(rounds: int) -> float:
    """Return firings per second of raw SpiffWorkflow in memory on the same process (spec embedded)."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(BPMN_XML.encode())
    workflow = BpmnWorkflow(parser.get_spec("bench_timer"))
    due = (datetime.now(UTC) + timedelta(milliseconds=200)).isoformat()
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data["due"] = due
    workflow.do_engine_steps()
    serializer = BpmnWorkflowSerializer()
    saved = serializer.serialize_json(workflow)
    time.sleep(0.3)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(rounds):
            wf = serializer.deserialize_json(saved)
            wf.refresh_waiting_tasks()
            wf.do_engine_steps()
            serializer.serialize_json(wf)
    ready = {t.task_spec.name for t in wf.get_tasks(state=TaskState.READY)}
    assert "follow_up" in ready, "the timer did not fire"
    return rounds / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench and print a table."""
    register()  # the department the engine serves, as every entry point does
    parser = argparse.ArgumentParser(prog="python -m bench.timers", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 instances (smoke test)")
    parser.add_argument("--instances", type=int, help="instances waiting on timers (default 10000)")
    parser.add_argument("--spread", type=int, help="how many fall due evenly over the window")
    parser.add_argument("--window", type=float, help="seconds over which the spread ones fall due")
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args(list(argv) if argv is not None else None)
    n = args.instances or (300 if args.quick else 10_000)
    spread = min(n, args.spread or (100 if args.quick else 2_000))
    window = args.window or (5.0 if args.quick else 40.0)
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if not args.no_pg and pg_reachable(PG_URL):
        backends.append(("postgresql", PG_URL))
    elif not args.no_pg:
        print(f"PostgreSQL not reachable at {PG_URL}: SQLite only")
    print(f"timer bench: {n} instances waiting; {spread} due over {window:.0f} s "
          f"({spread / window:.0f}/s), then a burst of {n - spread} due at once")
    header = (f"{'database':<11}{'workers':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"{'burst/s':>9}  exactly once")
    print(header)
    print("-" * len(header))
    one_worker_rate = float("nan")
    failed = False
    for name, url in backends:
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                schema = f"bpm_bench_{uuid.uuid4().hex[:10]}" if url else None
                db_url = url or f"sqlite:///{tmp}/bench.sqlite"
                if schema:
                    with create_engine(db_url).begin() as conn:
                        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                try:
                    r = run_case(db_url, schema, n, spread, window, workers, Path(tmp))
                finally:
                    if schema:
                        with create_engine(db_url).begin() as conn:
                            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            d = [x * 1000 for x in r["delays"]] or [float("nan")]
            print(f"{name:<11}{workers:>8}{statistics.median(d):>9.0f}{percentile(d, .95):>9.0f}"
                  f"{percentile(d, .99):>9.0f}{max(d):>9.0f}{r['throughput']:>9.0f}  "
                  f"{'yes' if r['exactly_once'] else 'NO'}"
                  + (f"  (inserting overran the first due time by {r['late_start']:.1f} s)"
                     if r["late_start"] > 0 else ""))
            failed |= not r["exactly_once"]
            if name == "sqlite" and workers == 1:
                one_worker_rate = r["throughput"]
    raw = raw_spiff_rate(200 if args.quick else 2000)
    print(f"raw SpiffWorkflow in memory (load, refresh timers, step, save): {raw:.0f} firings/s; "
          f"engine with SQLite, 1 worker, committed to disk: {one_worker_rate:.0f}/s "
          f"(ratio {raw / one_worker_rate:.1f}x)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
