"""Every read of the busy tables is served by an index, partial ones included, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from department import kpis
from engine import worker
from engine.notify import delivery
from engine.notify import queries as notify_queries
from engine.notify.models import Delivery, Notification
from engine.runtime import Actor, Engine
from engine.store import eligibility, queries
from engine.store.db import create_schema, make_engine
from tests.conftest import T0, add_user
from tests.pg import pg_schema, schema_bind
from tests.processes.helpers import deploy_all

__all__ = ["pg_schema"]

BUSY = ("tasks", "history", "process_instances", "notifications", "notification_deliveries")
# Partial indexes holding only live work (open tasks, pending deliveries, cases waiting for a timer):
# reading one whole reads what is open, not the table's history.
LIVE_WORK = ("ix_tasks_open_assignee_due", "ix_tasks_open_role_due", "ix_deliveries_status_next",
             "ix_instances_wakeup")
REPAIR = {"channel": "phone", "reporter_name": "王先生", "contact_phone": "13800001111", "unit": "12F-1203",
          "description": "卫生间漏水", "category": "repair", "paid": "false"}


def _cases(session: Session, engine: Engine) -> dict[str, Actor]:
    """Deploy the processes, start a few repair cases and take one a step further; return the people."""
    people = {r: add_user(session, r, r) for r in ("cs_assistant", "engineering_dispatcher", "technician",
                                                   "cs_manager")}
    deploy_all(session, engine)
    started = [engine.start(session, "repair_dispatch", REPAIR, people["cs_assistant"]).id for _ in range(3)]
    session.commit()
    [task] = engine.open_tasks(session, started[0])
    engine.complete(session, task.id, {"trade": "plumbing", "technician": "technician",
                                       "substitute_repair": False}, people["engineering_dispatcher"])
    session.commit()
    return people


def _reads(people: dict[str, Actor]) -> dict[str, Callable[[Session], Any]]:
    """Return the named reads that must each be served by an index."""
    me, boss = people["cs_assistant"], people["cs_manager"]
    policy = delivery.Policy(clock=lambda: T0)
    reads: dict[str, Callable[[Session], Any]] = {
        "tasks: counts": lambda s: queries.count_tasks(s, me, T0),
        "kpis: task events of a period": lambda s: kpis._load_tasks(  # noqa: SLF001
            s, T0 - timedelta(days=30), {("repair_dispatch", "dispatch")}),
        "timers: the worker's claim": lambda s: worker._claim_next(s, T0, ()),  # noqa: SLF001
        "timers: the next wake-up": lambda s: worker.next_due(s),
        "deliveries: the worker's claim": lambda s: delivery._claim(s, policy, T0),  # noqa: SLF001
        "deliveries: the next due": lambda s: delivery.next_due(s, policy),
        "notifications: the bell": lambda s: notify_queries.badge(s, me.username),
        "notifications: the list": lambda s: notify_queries.recent(s, me.username),
        "notifications: mark read": lambda s: notify_queries.mark_read(s, me.username, T0),
        "notifications: a deadline already told": lambda s: s.scalars(select(Notification.id).where(
            Notification.dedupe_key.in_(["deadline_near:a", "deadline_near:b"]))).all(),
        "deliveries: of a notification": lambda s: s.scalars(select(Delivery.id).where(
            Delivery.notification_id == 1)).all(),
        "eligibility: who did each step": lambda s: eligibility._performers(s, {1, 2}),  # noqa: SLF001
        "deliveries: the deadline scan": lambda s: delivery.scan_deadlines(lambda: Session(s.get_bind()),
                                                                           policy),
    }
    for status in ("open", "completed", "cancelled"):
        for scope, who in (("mine", me), ("group", me), ("all", boss)):
            reads[f"tasks: {scope}, {status}"] = (
                lambda s, scope=scope, who=who, status=status: queries.list_tasks(s, who, T0, scope=scope,
                                                                                  status=status))
    reads["tasks: my roles' overdue of one process"] = lambda s: queries.list_tasks(
        s, me, T0, scope="group", process_key="repair_dispatch", overdue=True)
    return reads


def _statements(bind: SqlEngine, session: Session, read: Callable[[Session], Any]) -> list[tuple[str, Any]]:
    """Run a read and return the statements it sent (reads and the bell's update) with their parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")):
            seen.append((statement, params))

    event.listen(bind, "before_cursor_execute", listen)
    try:
        read(session)
    finally:
        event.remove(bind, "before_cursor_execute", listen)
        session.rollback()
    return seen


def _pg_scans(node: dict[str, Any]) -> Iterator[tuple[str, str, str | None, str]]:
    """Yield (node type, table, index, index condition) of every table or index scan in a plan."""
    # A bitmap heap scan is always fed by index conditions (its Bitmap Index Scans): not listed.
    if node["Node Type"] in ("Seq Scan", "Index Scan", "Index Only Scan"):
        yield node["Node Type"], node["Relation Name"], node.get("Index Name"), node.get("Index Cond", "")
    for child in node.get("Plans", []):
        yield from _pg_scans(child)


LEADING_COLUMNS = """
SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()
"""


def _whole_reads(bind: SqlEngine, statements: list[tuple[str, Any]]) -> list[str]:
    """Return the scans that read a whole busy table (or a whole index of it) with nothing to seek by."""
    sqlite = bind.dialect.name == "sqlite"
    found = []
    with bind.connect() as conn:
        if not sqlite:  # a tiny table: tell the planner to take an index wherever one can serve
            conn.exec_driver_sql("SET enable_seqscan = off")
            leading = {index: column for index, column in conn.exec_driver_sql(LEADING_COLUMNS)}
        for statement, params in statements:
            shown = " ".join(statement.split())[:160]
            if sqlite:
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params):
                    m = re.fullmatch(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", str(row[-1]).strip())
                    if m and m.group(1) in BUSY and m.group(2) not in LIVE_WORK:
                        found.append(f"{row[-1]}  ← {shown}")
                continue
            [[plan]] = conn.exec_driver_sql("EXPLAIN (FORMAT JSON, COSTS OFF) " + statement, params).all()
            for kind, table, index, cond in _pg_scans(plan[0]["Plan"]):
                # PostgreSQL also takes a condition on a later column of an index, then reads all of it.
                sought = index is not None and f"({leading[index]}" in cond
                if table in BUSY and (kind == "Seq Scan" or (not sought and index not in LIVE_WORK)):
                    found.append(f"{kind} on {table} {index or ''} {cond} ← {shown}")
        conn.rollback()
    return found


def _check(bind: SqlEngine, engine: Engine) -> dict[str, list[str]]:
    """Return, per read, the full scans of busy tables its statements' plans contain."""
    with Session(bind) as session:
        people = _cases(session, engine)
    out = {}
    with Session(bind) as session:
        for name, read in _reads(people).items():
            statements = _statements(bind, session, read)
            assert statements, name
            out[name] = _whole_reads(bind, statements)
    return out


@pytest.fixture
def sqlite_bind(tmp_path: Any) -> Iterator[SqlEngine]:
    bind = make_engine(f"sqlite:///{tmp_path}/plans.sqlite")
    create_schema(bind)
    yield bind
    bind.dispose()


def test_busy_tables_are_read_through_indexes_on_sqlite(sqlite_bind: SqlEngine, engine: Engine) -> None:
    assert {name: scans for name, scans in _check(sqlite_bind, engine).items() if scans} == {}


@pytest.mark.postgres
def test_busy_tables_are_read_through_indexes_on_postgresql(pg_schema: str, engine: Engine) -> None:
    bind = schema_bind(pg_schema)
    try:
        assert {name: scans for name, scans in _check(bind, engine).items() if scans} == {}
    finally:
        bind.dispose()


def test_the_inbox_reads_open_tasks_from_the_partial_indexes(sqlite_bind: SqlEngine, engine: Engine) -> None:
    with Session(sqlite_bind) as session:
        people = _cases(session, engine)
    me = people["cs_assistant"]
    for scope, index in (("mine", "ix_tasks_open_assignee_due"), ("group", "ix_tasks_open_role_due")):
        with Session(sqlite_bind) as session:
            [(statement, params), *_] = _statements(
                sqlite_bind, session, lambda s, scope=scope: queries.list_tasks(s, me, T0, scope=scope))
        with sqlite_bind.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plan = " ".join(str(r[-1]) for r in rows)
        assert index in plan, (scope, plan)
