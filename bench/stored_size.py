"""Figure 6: stored bytes per instance at start, mid-way and closed vs Spiff's own dict, spec-free, zlib."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from engine.store.models import HistoryEvent, ProcessInstance, TaskRow

from .common import (
    REPAIR_FILE,
    REPAIR_KEY,
    Results,
    bench_engine,
    engine_repair_instance,
    heading,
    prepare_repair,
    raw_repair_instance,
    raw_script_engine,
    raw_spec,
    say,
    sqlite_database,
)
from .spiff_peer import fair_bytes

# start = after the start form; mid-way = the repair has been reported; closed = the end.
POINTS = {"start": "start", "repair": "mid-way", "callback": "closed"}
TARGET = 1.0  # all-in bytes (row + inbox + history) at most the fair baseline


def _payload(table: Any) -> str:
    """Return SQL summing the bytes of every column of a row (SQLite stores each value as text/blob/int)."""
    return " + ".join(f"coalesce(length(CAST({c.name} AS BLOB)), 0)" for c in table.columns)


def stored_bytes(session: Session, instance_id: int) -> dict[str, int]:
    """Return the payload bytes an instance occupies: its row, its inbox rows, its history rows."""
    tables: dict[str, tuple[Table, str]] = {
        "row": (ProcessInstance.__table__, "id"), "inbox": (TaskRow.__table__, "instance_id"),  # type: ignore[dict-item]
        "history": (HistoryEvent.__table__, "instance_id")}  # type: ignore[dict-item]
    return {k: int(session.scalar(text(f"SELECT coalesce(sum({_payload(t)}), 0) FROM {t.name} "
                                       f"WHERE {col} = :i"), {"i": instance_id}) or 0)
            for k, (t, col) in tables.items()}


def run(results: Results, quick: bool, use_pg: bool) -> None:
    """Compare stored bytes at three points of one repair_dispatch instance."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer

    heading("6 Stored size: one repair_dispatch instance, bytes at start / mid-way / closed")
    engine_sizes: dict[str, dict[str, int]] = {}
    raw_sizes: dict[str, int] = {}
    full_sizes: dict[str, int] = {}

    def engine_point(session: Session, instance_id: int, element: str) -> None:
        if element in POINTS:
            engine_sizes[POINTS[element]] = stored_bytes(session, instance_id)

    serializer = BpmnWorkflowSerializer()

    def raw_point(workflow: Any, element: str) -> None:
        if element in POINTS:
            full_sizes[POINTS[element]] = len(serializer.serialize_json(workflow).encode("utf-8"))
            raw_sizes[POINTS[element]] = fair_bytes(serializer, workflow)

    with tempfile.TemporaryDirectory() as tmp, sqlite_database(Path(tmp)) as db:
        engine = bench_engine()
        prepare_repair(db, engine)
        engine_repair_instance(db, engine, after_step=engine_point)
    spec, subs = raw_spec(REPAIR_FILE, REPAIR_KEY)
    raw_repair_instance(spec, subs, raw_script_engine(), after_step=raw_point)
    say("engine = the instance row (zlib state without the spec, data JSON, columns); all-in adds its inbox "
        "and history rows (Spiff keeps that record inside its task tree). Fair baseline = Spiff's own "
        "serialization without spec/subprocess_specs, zlib level 6 (the engine's own compression)")
    for point in POINTS.values():
        e, raw = engine_sizes[point], raw_sizes[point]
        all_in = e["row"] + e["inbox"] + e["history"]
        say(f"{point:>8}: engine row {e['row']:>6} B + inbox {e['inbox']:>5} B + history {e['history']:>6} B "
            f"= {all_in:>6} B; Spiff spec-free zlib {raw:>6} B (serialize_json {full_sizes[point]:>6} B); "
            f"row {e['row'] / raw:.2f}, all-in {all_in / raw:.2f}")
        results.add(f"6 stored size, {point} (row / all-in)", f"{e['row']:,} / {all_in:,} B",
                    f"{raw:,} B (spec-free, zlib)", f"{e['row'] / raw:.2f} / {all_in / raw:.2f}",
                    "all-in ≤ 1.0× at closed" if point == "closed" else "reported",
                    all_in / raw <= TARGET if point == "closed" else "—")
