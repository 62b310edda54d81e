"""Figure 3: inbox and admin search on PostgreSQL with 1,000,000 finished instances and 100,000 open tasks.

Rows are generated inside PostgreSQL (INSERT … SELECT over generate_series, in chunks, into UNLOGGED
tables with indexes built afterwards, as pg_restore does; reads work the same) from real templates:
the state blob and data of an instance taken to `closed` (and one left open) through the engine, the
deployed versions and their task titles. Then the named queries of engine.queries run as the inbox
and the admin pages call them, and their EXPLAIN ANALYZE plans are printed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session
from tqdm import tqdm

from engine.runtime import Actor
from engine.store import queries
from engine.store.models import ProcessInstance, ProcessVersion

from .common import (
    ACTORS,
    PROCESSES,
    REPAIR_KEY,
    START_DATA,
    Database,
    Results,
    bench_engine,
    engine_repair_instance,
    heading,
    median,
    percentile,
    pg_database,
    prepare_repair,
    say,
)

CHUNK = 50_000
USERS_PER_ROLE = 50
INBOX_TARGET_MS, SEARCH_TARGET_MS = 20.0, 50.0
# Open work as a property desk sees it: (process, task element, assigned to one person?, weight).
OPEN_TASKS = [
    ("repair_dispatch", "dispatch", False, 8), ("repair_dispatch", "arrive_on_site", True, 6),
    ("repair_dispatch", "repair", True, 8), ("repair_dispatch", "foreman_confirm", False, 5),
    ("repair_dispatch", "callback", False, 12), ("repair_dispatch", "assist", False, 4),
    ("repair_dispatch", "give_guidance", False, 3), ("complaint_handling", "forward", True, 6),
    ("complaint_handling", "investigate", False, 5), ("complaint_handling", "inform_customer", True, 4),
    ("complaint_handling", "callback", False, 5), ("complaint_handling", "report_to_leadership", False, 2),
    ("hazardous_goods_issuance", "approve", False, 3), ("hazardous_goods_issuance", "issue", True, 2),
    ("hazardous_goods_issuance", "use_and_report", True, 3),
    ("hazardous_goods_issuance", "return_unused", False, 2),
    ("sealed_key_usage", "manager_approval", False, 1), ("sealed_key_usage", "gm_approval", False, 1),
    ("sealed_key_usage", "reseal", False, 1),
]
PROCESS_SHARE = {"repair_dispatch": 12, "complaint_handling": 5, "hazardous_goods_issuance": 2,
                 "sealed_key_usage": 1}


def _chunks(total: int, first: int, desc: str) -> Any:
    """Yield (low, high) id ranges of CHUNK rows with a progress bar."""
    bar = tqdm(total=total, desc=f"  {desc}", unit="row", unit_scale=True, leave=False, mininterval=1.0)
    low = first
    while low < first + total:
        high = min(first + total - 1, low + CHUNK - 1)
        yield low, high
        bar.update(high - low + 1)
        low = high + 1
    bar.close()


def _templates(db: Database) -> dict[str, Any]:
    """Deploy every process, run one repair instance to closed and start one: their rows are the templates."""
    engine = bench_engine()
    prepare_repair(db, engine)
    with db.factory() as s:
        for path in sorted(PROCESSES.glob("*.bpmn")):
            engine.deploy(s, path.read_bytes(), filename=path.name)
        s.commit()
    closed_id = engine_repair_instance(db, engine)
    with db.factory() as s:
        open_inst = engine.start(s, REPAIR_KEY, START_DATA, ACTORS["cs_assistant"])
        s.commit()
        closed = s.get(ProcessInstance, closed_id)
        assert closed is not None
        versions = {v.process_key: v for v in s.query(ProcessVersion)}
        tasks = {(key, element): spec for key, v in versions.items()
                 for element, spec in (v.model.get("tasks") or {}).items()}
        return {"closed_state": closed.state, "closed_data": json.dumps(closed.data, ensure_ascii=False),
                "open_state": open_inst.state, "open_data": json.dumps(open_inst.data, ensure_ascii=False),
                "versions": {k: (v.id, v.name_zh) for k, v in versions.items()}, "tasks": tasks,
                "first_id": int(open_inst.id) + 1}


def _lookup_tables(s: Session, tpl: dict[str, Any]) -> None:
    """Create the small weighted lookup tables the generators draw from (dropped with the schema)."""
    s.execute(text("CREATE TABLE bench_proc (n int PRIMARY KEY, process_key text, version_id int, "
                   "name_zh text)"))
    n = 0
    for key, share in PROCESS_SHARE.items():
        vid, name = tpl["versions"][key]
        for _ in range(share):
            s.execute(text("INSERT INTO bench_proc VALUES (:n, :k, :v, :name)"), {"n": n, "k": key, "v": vid,
                                                                                 "name": name})
            n += 1
    s.execute(text("CREATE TABLE bench_kind (n int PRIMARY KEY, process_key text, version_id int, "
                   "name_zh text, element_id text, title_zh text, title_en text, role text, assigned bool)"))
    n = 0
    for key, element, assigned, weight in OPEN_TASKS:
        spec = tpl["tasks"][(key, element)]
        role = spec.get("role") or "cs_assistant"
        if spec.get("role_expr"):
            role = "engineering_dispatcher" if element == "investigate" else "housekeeping"
        for _ in range(weight):
            s.execute(text("INSERT INTO bench_kind VALUES (:n, :k, :v, :name, :e, :tz, :te, :r, :a)"),
                      {"n": n, "k": key, "v": tpl["versions"][key][0], "name": tpl["versions"][key][1],
                       "e": element, "tz": spec["title_zh"], "te": spec["title_en"], "r": role,
                       "a": assigned})
            n += 1


FINISHED_SQL = """
INSERT INTO process_instances (id, process_key, version_id, status, outcome, title, unit, started_by,
    started_at, updated_at, ended_at, next_wakeup_at, state_format, state, data, error, row_version)
SELECT g, p.process_key, p.version_id, r.status, CASE WHEN r.status = 'completed' THEN 'closed' END,
    p.name_zh || ' ' || r.unit, r.unit, r.started_by, r.started_at, r.started_at + r.took,
    r.started_at + r.took, NULL, 1, :state, CAST(:data AS json), NULL, 6
FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g
CROSS JOIN LATERAL (SELECT g AS id,  -- naming g makes the subquery run once per row
    CASE WHEN random() < 0.95 THEN 'completed' ELSE 'terminated' END AS status,
    chr(65 + (random() * 5)::int) || '-' || lpad(((random() * 3000)::int)::text, 4, '0') AS unit,
    'cs_assistant' || (random() * 199)::int AS started_by,
    now() - random() * interval '1095 days' AS started_at,
    random() * interval '72 hours' AS took,
    floor(random() * CAST(:shares AS int))::int AS pn) r
JOIN bench_proc p ON p.n = r.pn
"""
OPEN_SQL = """
INSERT INTO process_instances (id, process_key, version_id, status, outcome, title, unit, started_by,
    started_at, updated_at, ended_at, next_wakeup_at, state_format, state, data, error, row_version)
SELECT g, k.process_key, k.version_id, 'running', NULL, k.name_zh || ' ' || r.unit, r.unit, r.started_by,
    r.started_at, r.started_at, NULL, r.started_at + interval '15 minutes', 1, :state, CAST(:data AS json),
    NULL, 3
FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g
CROSS JOIN LATERAL (SELECT g AS id,
    chr(65 + (random() * 5)::int) || '-' || lpad(((random() * 3000)::int)::text, 4, '0') AS unit,
    'cs_assistant' || (random() * 199)::int AS started_by,
    now() - random() * interval '20 days' AS started_at) r
-- the open task (below) picks the same kind from the same hash
JOIN bench_kind k ON k.n = abs(hashint4(g::int)) % CAST(:kinds AS int)
"""
OPEN_TASKS_SQL = """
INSERT INTO tasks (id, instance_id, process_key, element_id, title_zh, title_en, role, assignee,
    assigned_by_process, status, created_at, due_at, overdue, claimed_at, completed_at, completed_by,
    instance_title)
SELECT gen_random_uuid()::text, i.id, k.process_key, k.element_id, k.title_zh, k.title_en, k.role,
    CASE WHEN k.assigned OR random() < 0.25 THEN k.role || floor(random() * CAST(:users AS int))::int END,
    k.assigned, 'open',
    i.started_at, CASE WHEN random() < 0.9 THEN now() + (random() * 10 - 1) * interval '1 day' END,
    random() < 0.05, NULL, NULL, NULL, i.title
FROM process_instances i
JOIN bench_kind k ON k.n = abs(hashint4(i.id::int)) % CAST(:kinds AS int)
WHERE i.id BETWEEN CAST(:low AS bigint) AND CAST(:high AS bigint)
"""
DONE_TASKS_SQL = """
INSERT INTO tasks (id, instance_id, process_key, element_id, title_zh, title_en, role, assignee,
    assigned_by_process, status, created_at, due_at, overdue, claimed_at, completed_at, completed_by,
    instance_title)
SELECT gen_random_uuid()::text, i.id, i.process_key, 'callback', '客戶回訪', 'Call the customer back',
    'cs_assistant', i.started_by, false, 'completed', i.started_at, NULL, false, NULL, i.ended_at,
    i.started_by, i.title
FROM process_instances i WHERE i.id BETWEEN CAST(:low AS bigint) AND CAST(:high AS bigint)
"""
# The same rule as engine.inbox.instance_due, applied to the generated open tasks.
INSTANCE_DUE_SQL = """
UPDATE process_instances i SET due_at = t.due
FROM (SELECT instance_id, min(CASE WHEN overdue THEN created_at ELSE due_at END) AS due FROM tasks
      WHERE status = 'open' AND instance_id BETWEEN CAST(:low AS bigint) AND CAST(:high AS bigint)
      GROUP BY instance_id) t
WHERE i.id = t.instance_id
"""
HISTORY_SQL = """
INSERT INTO history (instance_id, at, kind, actor, element_id, task_id, message, details)
SELECT i.id, CASE h.kind WHEN 'started' THEN i.started_at ELSE coalesce(i.ended_at, i.updated_at) END, h.kind,
    CASE WHEN h.kind = 'completed' THEN NULL ELSE i.started_by END, h.element, NULL, '',
    CASE WHEN h.kind = 'started' THEN CAST(:data AS json) END
FROM process_instances i
CROSS JOIN (VALUES ('started', NULL), ('task_completed', 'callback'), ('completed', NULL)) AS h(kind, element)
WHERE i.id BETWEEN CAST(:low AS bigint) AND CAST(:high AS bigint)
    AND (h.kind = 'started' OR i.status <> 'running')
"""


BULK_TABLES = ("process_instances", "tasks", "history")


def _drop_indexes(s: Session) -> list[str]:
    """Drop the bulk tables' indexes and foreign keys (and the task and history primary keys).

    As pg_restore does: loading first and indexing after is several times faster than maintaining
    a dozen indexes (one on random UUIDs) row by row. Returns the DDL that recreates them. The
    instances' primary key stays: other tables' foreign keys hang on it, and its ids arrive in order.
    """
    tables = ", ".join(f"'{t}'" for t in BULK_TABLES)
    constraints = s.execute(text(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = current_schema() AND (c.contype = 'f' OR c.contype = 'p' "
        f"AND c.conrelid::regclass::text <> 'process_instances') AND c.conrelid::regclass::text IN ({tables})"
    )).all()
    indexes = s.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        f"AND tablename IN ({tables}) AND indexname NOT IN (SELECT conname FROM pg_constraint)")).all()
    recreate = [f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {ddl}' for t, name, ddl, kind in constraints
                if kind == "p"]
    recreate += [ddl for _, ddl in indexes]
    recreate += [f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {ddl}' for t, name, ddl, kind in constraints
                 if kind == "f"]
    for t, name, _, _kind in sorted(constraints, key=lambda c: c[3] != "f"):  # foreign keys first
        s.execute(text(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        s.execute(text(f'DROP INDEX "{name}"'))
    return recreate


def generate(db: Database, finished: int, open_tasks: int) -> dict[str, Any]:
    """Fill the schema: finished instances with their history, running ones with one open task each."""
    tpl = _templates(db)
    first = tpl["first_id"]
    started = time.perf_counter()
    with db.factory() as s:
        s.execute(text("SELECT setseed(0.42)"))
        _lookup_tables(s, tpl)
        recreate = _drop_indexes(s)
        # No WAL for a throw-away data set (reads are the same); referencing tables first.
        for table in _instance_tables():
            s.execute(text(f"ALTER TABLE {table} SET UNLOGGED"))
        shares, kinds = sum(PROCESS_SHARE.values()), sum(w for *_, w in OPEN_TASKS)
        closed = {"state": tpl["closed_state"], "data": tpl["closed_data"]}
        for low, high in _chunks(finished, first, "finished instances"):
            s.execute(text(FINISHED_SQL), {**closed, "low": low, "high": high, "shares": shares})
        open_first = first + finished
        running = {"state": tpl["open_state"], "data": tpl["open_data"]}
        for low, high in _chunks(open_tasks, open_first, "running instances"):
            s.execute(text(OPEN_SQL), {**running, "low": low, "high": high, "kinds": kinds})
        for low, high in _chunks(open_tasks, open_first, "open tasks"):
            s.execute(text(OPEN_TASKS_SQL), {"low": low, "high": high, "users": USERS_PER_ROLE,
                                             "kinds": kinds})
        for low, high in _chunks(open_tasks, open_first, "instance due times"):
            s.execute(text(INSTANCE_DUE_SQL), {"low": low, "high": high})
        for low, high in _chunks(finished, first, "completed tasks"):
            s.execute(text(DONE_TASKS_SQL), {"low": low, "high": high})
        start_data = json.dumps({"data": START_DATA, "version": 1}, ensure_ascii=False)
        for low, high in _chunks(finished + open_tasks, first, "history rows (per instance)"):
            s.execute(text(HISTORY_SQL), {"data": start_data, "low": low, "high": high})
        s.execute(text("SELECT setval(pg_get_serial_sequence('process_instances', 'id'), "
                       "(SELECT max(id) FROM process_instances))"))
        s.execute(text("SET maintenance_work_mem = '256MB'"))
        for ddl in tqdm(recreate, desc="  indexes and keys", unit="index", leave=False):
            s.execute(text(ddl))
        s.commit()
    with db.bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # A fresh bulk load has no statistics or visibility map yet; autovacuum would get there later.
        conn.execute(text("VACUUM (ANALYZE) tasks, process_instances"))
        conn.execute(text("ANALYZE history"))
        sizes: dict[str, str] = dict(conn.execute(text(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND relname IN ('process_instances', 'tasks', 'history')")).tuples().all())
        counts: dict[str, int] = dict(conn.execute(text(
            "SELECT 'instances', count(*) FROM process_instances UNION ALL "
            "SELECT 'open tasks', count(*) FROM tasks WHERE status = 'open' UNION ALL "
            "SELECT 'history', count(*) FROM history")).tuples().all())
    say(f"generated in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + "; sizes " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    return tpl


def _capture(db: Database, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run a query function once and return the SQL statements it sent, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append((statement, params))

    event.listen(db.bind, "before_cursor_execute", listen)
    try:
        call()
    finally:
        event.remove(db.bind, "before_cursor_execute", listen)
    return [(st, p) for st, p in seen if st.lstrip().upper().startswith("SELECT")]


def _explain(db: Database, name: str, call: Callable[[], Any]) -> bool:
    """Print the EXPLAIN ANALYZE plan of every statement a query sends; return whether none seq-scans."""
    clean = True
    with db.bind.connect() as conn:
        shown: set[str] = set()
        for statement, params in _capture(db, call):
            if ("FROM process_versions" in statement and "JOIN" not in statement) or statement in shown:
                continue  # a version number, read once per session
            shown.add(statement)
            explain = "EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF) " + statement
            plan = [r[0] for r in conn.exec_driver_sql(explain, params)]
            big_scan = [line for line in plan if "Seq Scan on" in line and "bench_" not in line
                        and "process_versions" not in line]
            clean &= not big_scan
            first = " ".join(statement.split())[:100]
            say(f"[{name}] {first}…")
            for line in plan:
                say(f"    {line}")
    return clean


def _time(session: Session, runs: int, call: Callable[[Session, int], Any]) -> list[float]:
    """Return the milliseconds of `runs` calls, each with a different random parameter seed."""
    out = []
    for i in range(runs):
        started = time.perf_counter()
        call(session, i)
        out.append((time.perf_counter() - started) * 1000)
        session.rollback()  # drop the identity map as a request would
    return out


def _queries(rng: random.Random) -> dict[str, tuple[str, Callable[[Session, int], Any]]]:
    """Return the measured calls: name → (kind, call)."""
    now = datetime.now(UTC)
    admin = Actor("admin", frozenset({"admin"}))
    roles = ["area_foreman", "cleaner", "cs_assistant", "cs_manager", "engineering_dispatcher", "technician"]
    keys = list(PROCESS_SHARE)

    def person() -> Actor:
        role = rng.choice(roles)
        return Actor(f"{role}{rng.randrange(USERS_PER_ROLE)}", frozenset({role}))

    def unit() -> str:
        return f"{chr(65 + rng.randrange(6))}-{rng.randrange(3000):04d}"

    def by_month(s: Session) -> Any:
        start = datetime(2024 + rng.randrange(2), 1 + rng.randrange(12), 1, tzinfo=UTC)
        end = start.replace(month=start.month % 12 + 1, year=start.year + (start.month == 12))
        return queries.search_instances(s, admin, now, process_key=rng.choice(keys), status="completed",
                                        started_from=start, started_to=end)

    return {
        "inbox: my tasks, by due time": ("inbox", lambda s, i: queries.list_tasks(s, person(), now)),
        "inbox: my roles' tasks, by due time": (
            "inbox", lambda s, i: queries.list_tasks(s, person(), now, scope="group")),
        "inbox: my roles' tasks of one process, overdue": (
            "inbox", lambda s, i: queries.list_tasks(s, person(), now, scope="group",
                                                     process_key=rng.choice(keys), overdue=True)),
        "search: process + status + month": (
            "search", lambda s, i: by_month(s)),
        "search: unit": ("search", lambda s, i: queries.search_instances(s, admin, now, unit=unit())),
        "search: started by": ("search", lambda s, i: queries.search_instances(
            s, admin, now, started_by=f"cs_assistant{rng.randrange(200)}")),
        "search: running, overdue": ("search", lambda s, i: queries.search_instances(
            s, admin, now, status="running", overdue=True)),
    }


def run(results: Results, quick: bool, use_pg: bool) -> None:
    """Generate the data set, time the inbox and search queries, print their plans."""
    finished, open_tasks = (20_000, 5_000) if quick else (1_000_000, 100_000)
    heading(f"3 Inbox at scale: PostgreSQL, {finished:,} finished instances, {open_tasks:,} open tasks")
    if not use_pg:
        say("SKIPPED: PostgreSQL is not reachable (this figure is PostgreSQL only)")
        results.add("3 inbox at scale", "SKIPPED (no PostgreSQL)", "n/a — Spiff has no inbox", "", "", "—")
        return
    runs = 40 if quick else 300
    rng = random.Random(7)
    with pg_database() as db:
        generate(db, finished, open_tasks)
        calls = _queries(rng)
        worst = {"inbox": 0.0, "search": 0.0}
        plans_ok = True
        for name, (_, call) in calls.items():
            with db.factory() as s:
                plans_ok &= _explain(db, name, lambda c=call, s=s: c(s, 0))  # type: ignore[misc]
        for name, (kind, call) in calls.items():
            with db.factory() as s:
                _time(s, 2, call)  # warm the pool and the caches
                ms = _time(s, runs, call)
            p50, p95 = median(ms), percentile(ms, 0.95)
            worst[kind] = max(worst[kind], p95)
            target = INBOX_TARGET_MS if kind == "inbox" else SEARCH_TARGET_MS
            say(f"{name:<48} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({len(ms)} runs)")
            results.add(f"3 {name} (p50 / p95)", f"{p50:.1f} / {p95:.1f} ms", "n/a — Spiff has no inbox", "",
                        f"p95 < {target:.0f} ms", p95 < target)
        say(f"query plans {'use indexes only' if plans_ok else 'include a sequential scan of a big table'}")
        results.add("3 query plans use indexes", "yes" if plans_ok else "NO (see plans)",
                    "n/a — Spiff has no inbox", "", "index scans", plans_ok)


def _instance_tables() -> list[str]:
    """Return process_instances and every table that references it (transitively), referencing ones first."""
    from engine.store.models import Base

    linked = {"process_instances"}
    for table in Base.metadata.sorted_tables:  # parents come before the tables that reference them
        if any(fk.column.table.name in linked for fk in table.foreign_keys):
            linked.add(table.name)
    return [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in linked]
