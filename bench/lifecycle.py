"""Figure 1: repair_dispatch start→closed: the engine vs Spiff persisted per step and Spiff in memory."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from .common import (
    REPAIR_FILE,
    REPAIR_KEY,
    STEPS,
    Database,
    Results,
    bench_engine,
    engine_repair_instance,
    heading,
    pg_database,
    prepare_repair,
    raw_repair_instance,
    raw_script_engine,
    raw_spec,
    say,
    sqlite_database,
)
from .spiff_peer import PersistedPeer

UNITS_PER_INSTANCE = 1 + len(STEPS)  # start plus five completions
ROUNDS = 5  # raw and engine batches alternate so a noisy neighbour hurts both alike


def _measure(db: Database, instances: int, label: str) -> tuple[float, float, float]:
    """Return (engine, persisted peer, raw) seconds for `instances` of each, in alternating batches."""
    engine = bench_engine()
    spec, subs = raw_spec(REPAIR_FILE, REPAIR_KEY)
    script_engine = raw_script_engine()
    peer = PersistedPeer(db)
    prepare_repair(db, engine)
    for _ in range(3):  # warm the spec cache, the connection pool and the peer's table
        engine_repair_instance(db, engine)
        peer.instance(spec, subs, script_engine)
        raw_repair_instance(spec, subs, script_engine)
    engine_s = peer_s = raw_s = 0.0
    per_round = max(1, instances // ROUNDS)
    bar = tqdm(total=per_round * ROUNDS * 3, desc=f"  lifecycle {label}", unit="inst", leave=False)
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(per_round):
            raw_repair_instance(spec, subs, script_engine)
            bar.update()
        raw_s += time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(per_round):
            peer.instance(spec, subs, script_engine)
            bar.update()
        peer_s += time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(per_round):
            engine_repair_instance(db, engine)
            bar.update()
        engine_s += time.perf_counter() - started
    bar.close()
    return engine_s, peer_s, raw_s


def run(results: Results, quick: bool, use_pg: bool) -> None:
    """Measure instances per second on SQLite and PostgreSQL against Spiff persisted and in memory."""
    instances = 15 if quick else 300
    heading(f"1 Lifecycle: {instances} repair_dispatch instances start→closed "
            f"({UNITS_PER_INSTANCE} committed units of work each) vs SpiffWorkflow persisted per step "
            "(serialize_json into one row, commit) and in memory")
    backends = ["sqlite"] + (["postgresql"] if use_pg else [])
    if not use_pg:
        say("PostgreSQL NOT REACHABLE: lifecycle measured on SQLite only")
    for name in backends:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = sqlite_database(Path(tmp)) if name == "sqlite" else pg_database()
            with ctx as db:
                engine_s, peer_s, raw_s = _measure(db, instances, name)
        n = max(1, instances // ROUNDS) * ROUNDS
        engine_rate, peer_rate, raw_rate = n / engine_s, n / peer_s, n / raw_s
        unit_ms, step_ms = engine_s / n / UNITS_PER_INSTANCE * 1000, raw_s / n / UNITS_PER_INSTANCE * 1000
        peer_ms = peer_s / n / UNITS_PER_INSTANCE * 1000
        say(f"{name}: engine {engine_rate:.1f} inst/s ({engine_rate * UNITS_PER_INSTANCE:.0f} units/s, "
            f"{unit_ms:.1f} ms each); Spiff persisted {peer_rate:.1f} inst/s ({peer_ms:.1f} ms per step); "
            f"raw Spiff in memory {raw_rate:.1f} inst/s ({step_ms:.1f} ms per step)")
        results.shared[f"lifecycle_{name}_units_per_s"] = engine_rate * UNITS_PER_INSTANCE
        results.add(f"1 lifecycle, {name}, vs Spiff persisted (inst/s)", f"{engine_rate:.1f}/s",
                    f"{peer_rate:.1f}/s", f"{engine_rate / peer_rate:.2f}×", "≥ 1.0×",
                    engine_rate >= peer_rate)
        in_memory_target = name == "sqlite"
        results.add(f"1 lifecycle, {name}, vs Spiff in memory (inst/s)", f"{engine_rate:.1f}/s",
                    f"{raw_rate:.1f}/s", f"{engine_rate / raw_rate:.2f}×",
                    "≥ 0.5×" if in_memory_target else "reported",
                    engine_rate / raw_rate >= 0.5 if in_memory_target else "—")
