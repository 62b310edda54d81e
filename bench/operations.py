"""Figure 7: migrating 10,000 waiting cases to a new version, and archiving 100,000 finished ones."""

from __future__ import annotations

import gzip
import io
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from engine.actor import Actor
from engine.archive import archive_finished
from engine.instance_migration import MigrationRequest, migrate_instances
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from tests.bpmn_builder import Process, field_xml

from .common import Database, Results, add_users, bench_engine, heading, say, sqlite_database

ADMIN = Actor("admin", frozenset({"admin"}))
CS = Actor("cs_assistant", frozenset({"cs_assistant"}))
# Floors as ratios to raw Spiff in the same run (they hold on a loaded machine; rates do not). The
# engine commits each migrated case on its own, and archiving also writes the history and deletes it.
MIGRATE_TARGET = 0.2  # × raw Spiff's in-memory diff + migrate_workflow
ARCHIVE_TARGET = 0.3  # × raw Spiff's serialise + gzip
CHUNK = 5000


def version(n: int) -> str:
    """Return version n of a process: a check step with a 2-day deadline, then (v2) a review, approve."""
    p = Process("bench_mig")
    p.start(fields=[field_xml("unit")])
    p.user("check", "cs_assistant", [field_xml("note")])
    p.timer("check_due", "check", duration="P2D")
    p.user("approve", "cs_manager", [field_xml("ok", "boolean")])
    p.end("end")
    if n == 2:
        p.user("review", "cs_foreman", [field_xml("seen", "boolean")])
        p.chain("start", "check", "review", "approve", "end")
    else:
        p.chain("start", "check", "approve", "end")
    return p.xml()


def _raw(n: int) -> bytes:
    """Return version n as plain SpiffWorkflow reads it (timer literal quoted, as our parser does)."""
    return version(n).replace("<bpmn:timeDuration>P2D<", "<bpmn:timeDuration>'P2D'<").encode()


def _migrate(db: Database, cases: int) -> tuple[float, int]:
    """Start `cases` cases on v1, deploy v2, move them all; return (seconds, moved)."""
    engine = bench_engine()
    with db.factory() as s:
        add_users(s, {"cs_assistant": "cs_assistant", "admin": "admin"})
        engine.deploy(s, version(1))
        s.commit()
        for i in range(cases):
            engine.start(s, "bench_mig", {"unit": f"A-{i}"}, CS)
            if i % 200 == 199:
                s.commit()
        engine.deploy(s, version(2))
        s.commit()
    with db.factory() as s:
        started = time.perf_counter()
        report = migrate_instances(s, MigrationRequest("bench_mig", 1, 2), ADMIN, dry_run=False,
                                   calendar=engine.calendar)
        return time.perf_counter() - started, report.moved


def _raw_migrate(cases: int) -> float:
    """Raw SpiffWorkflow: the same move with its own diff and migrate_workflow, deserialise → serialise."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

    def spec(n: int) -> Any:
        parser = BpmnParser()
        parser.add_bpmn_str(_raw(n), filename=f"v{n}.bpmn")
        return parser.get_spec("bench_mig")

    old, new = spec(1), spec(2)
    serializer = BpmnWorkflowSerializer()
    workflow = BpmnWorkflow(old)
    workflow.do_engine_steps()
    blob = serializer.serialize_json(workflow)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(cases):
            wf = serializer.deserialize_json(blob)
            top, _subs = diff_workflow(serializer.registry, wf, new, {})
            migrate_workflow(top, wf, new)
            serializer.serialize_json(wf)
    return time.perf_counter() - started


def _fill_finished(db: Database, cases: int) -> None:
    """Insert `cases` finished cases (a real finished state, seven history rows, one task row each)."""
    engine = bench_engine()
    with db.factory() as s:
        add_users(s, {"cs_assistant": "cs_assistant"})
        engine.deploy(s, version(1))
        model = engine.start(s, "bench_mig", {"unit": "A-0"}, CS)
        s.commit()
        state, version_id = model.state, model.version_id
    long_ago = datetime(2024, 1, 8, 2, tzinfo=UTC)
    with db.factory() as s:
        next_id = int(s.scalar(select(func.max(ProcessInstance.id))) or 0) + 1
        for first in range(0, cases, CHUNK):
            ids = range(next_id + first, next_id + min(first + CHUNK, cases))
            s.execute(insert(ProcessInstance), [dict(
                id=i, process_key="bench_mig", version_id=version_id, status="completed", outcome="closed",
                title=f"bench {i}", unit=f"A-{i}", started_by="cs_assistant", started_at=long_ago,
                updated_at=long_ago, ended_at=long_ago + timedelta(hours=5), state_format=1, state=state,
                data={"unit": f"A-{i}", "note": "ok", "ok": True}, row_version=1) for i in ids])
            tasks, events = [], []
            step_data = {"data": {"note": "ok"}}
            for i in ids:
                task_id = str(uuid.uuid4())
                tasks.append(dict(id=task_id, instance_id=i, process_key="bench_mig", element_id="check",
                                  title_zh="检查", title_en="check", role="cs_assistant", status="completed",
                                  created_at=long_ago, completed_at=long_ago + timedelta(hours=2),
                                  completed_by="cs_assistant", assignee="cs_assistant"))
                for n, (kind, element) in enumerate((("started", None), ("task_ready", "check"),
                                                     ("task_claimed", "check"), ("task_completed", "check"),
                                                     ("task_ready", "approve"), ("task_completed", "approve"),
                                                     ("completed", None))):
                    events.append(dict(instance_id=i, at=long_ago + timedelta(minutes=40 * n), kind=kind,
                                       actor="cs_assistant", element_id=element,
                                       task_id=task_id if element == "check" else None, message="",
                                       details=step_data if kind == "task_completed" else None))
            s.execute(insert(TaskRow), tasks)
            s.execute(insert(HistoryEvent), events)
            s.commit()


def _raw_archive(cases: int) -> float:
    """Raw SpiffWorkflow: serialise finished workflows to gzip JSON lines (it keeps no history of its own)."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(_raw(1), filename="v1.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("bench_mig"))
    workflow.do_engine_steps()
    while not workflow.is_completed():
        for task in workflow.get_tasks(state=TaskState.READY, manual=True):
            task.run()
        workflow.do_engine_steps()
    serializer = BpmnWorkflowSerializer()
    started = time.perf_counter()
    with gzip.open(io.BytesIO(), "wt", encoding="utf-8") as out:
        for _ in range(cases):
            out.write(serializer.serialize_json(workflow))
            out.write("\n")
    return time.perf_counter() - started


def run(results: Results, quick: bool, use_pg: bool) -> None:
    """Time a batch migration and an archive run on SQLite, next to raw SpiffWorkflow's comparable work."""
    migrating, archiving = (300, 3000) if quick else (10_000, 100_000)
    heading(f"7 Operations: migrate {migrating:,} waiting cases v1→v2; archive {archiving:,} finished cases "
            "(SQLite)")
    with tempfile.TemporaryDirectory() as tmp:
        with sqlite_database(Path(tmp)) as db:
            seconds, moved = _migrate(db, migrating)
        raw = _raw_migrate(min(migrating, 2000)) / min(migrating, 2000) * migrating
        rate, raw_rate = moved / seconds, migrating / raw
        say(f"migration: {moved:,} moved in {seconds:.1f} s ({rate:.0f}/s, one committed unit each); "
            f"raw Spiff diff+migrate_workflow in memory {raw_rate:.0f}/s")
        results.add(f"7 migrate {migrating:,} cases", f"{rate:.0f}/s", f"{raw_rate:.0f}/s (memory)",
                    f"{rate / raw_rate:.2f}", f"≥ {MIGRATE_TARGET}×, all moved",
                    moved == migrating and rate >= MIGRATE_TARGET * raw_rate)
        with sqlite_database(Path(tmp)) as db:
            _fill_finished(db, archiving)
            with db.factory() as s:
                started = time.perf_counter()
                report = archive_finished(s, Path(tmp) / "archive.jsonl.gz", datetime(2025, 1, 1, tzinfo=UTC))
                seconds = time.perf_counter() - started
                left = s.scalar(select(func.count()).select_from(ProcessInstance)
                                .where(ProcessInstance.status == "completed"))
            size = (Path(tmp) / "archive.jsonl.gz").stat().st_size
        raw = _raw_archive(min(archiving, 5000)) / min(archiving, 5000) * archiving
        rate, raw_rate = report.archived / seconds, archiving / raw
        say(f"archive: {report.archived:,} cases in {seconds:.1f} s ({rate:.0f}/s), {size / 1e6:.1f} MB, "
            f"{left} finished cases left live; raw Spiff serialise+gzip {raw_rate:.0f}/s (no delete)")
        results.add(f"7 archive {archiving:,} cases", f"{rate:.0f}/s", f"{raw_rate:.0f}/s (memory)",
                    f"{rate / raw_rate:.2f}", f"≥ {ARCHIVE_TARGET}×, live emptied",
                    report.archived == archiving and left == 0 and rate >= ARCHIVE_TARGET * raw_rate)
