"""Two people completing one task at the same moment: one wins, the other gets a conflict."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.errors import Conflict
from engine.runtime import Actor, Engine
from engine.store.db import make_engine, make_session_factory
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0, add_user
from tests.pg import pg_schema, schema_bind

__all__ = ["pg_schema"]
PAIRS = 15


def _process() -> str:
    p = Process("race")
    p.start()
    p.user("work", "cs_assistant", [field_xml("note")])
    p.user("next", "cs_manager", [])
    p.end("end")
    p.chain("start", "work", "next", "end")
    return p.xml()


def _race(factory: Callable[[], Session]) -> None:
    """Start PAIRS instances, then race two completions of each first task."""
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    with factory() as s:
        a = add_user(s, "a1", "cs_assistant")
        b = add_user(s, "a2", "cs_assistant")
        engine.deploy(s, _process())
        ids = [engine.start(s, "race", {}, a).id for _ in range(PAIRS)]
        s.commit()
        tasks = [s.scalars(select(TaskRow.id).where(TaskRow.instance_id == i)).one() for i in ids]
    outcomes: list[str] = []
    lock = threading.Lock()

    def complete(task_id: str, who: Actor, barrier: threading.Barrier) -> None:
        with factory() as s:
            barrier.wait()
            try:
                engine.complete(s, task_id, {"note": who.username}, who)
                s.commit()
                result = "won"
            except Conflict:
                s.rollback()
                result = "conflict"
        with lock:
            outcomes.append(result)

    for task_id in tasks:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=complete, args=(task_id, who, barrier)) for who in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(outcomes) == sorted(["won", "conflict"] * PAIRS)
    with factory() as s:
        done = s.scalar(select(func.count()).select_from(HistoryEvent).where(
            HistoryEvent.kind == "task_completed"))
        nexts = s.scalar(select(func.count()).select_from(TaskRow).where(
            TaskRow.element_id == "next", TaskRow.status == "open"))
    assert (done, nexts) == (PAIRS, PAIRS)


def test_concurrent_completion_on_sqlite_has_one_winner(session_factory: Callable[[], Session]) -> None:
    _race(session_factory)


@pytest.mark.postgres
def test_concurrent_completion_on_postgres_has_one_winner(pg_schema: str) -> None:
    bind = schema_bind(pg_schema)
    try:
        _race(make_session_factory(bind))
    finally:
        bind.dispose()


def test_sqlite_writers_queue_instead_of_failing(tmp_path: object) -> None:
    """BEGIN IMMEDIATE makes a second writer wait for the first rather than fail on upgrade."""
    bind = make_engine(f"sqlite:///{tmp_path}/q.sqlite")
    from engine.store.db import create_schema

    create_schema(bind)
    factory = make_session_factory(bind)
    with factory() as s1, factory() as s2:
        add_user(s1, "x", "cs_assistant")
        done = threading.Event()

        def second() -> None:
            add_user(s2, "y", "cs_assistant")
            s2.commit()
            done.set()

        t = threading.Thread(target=second)
        t.start()
        assert not done.wait(0.3)
        s1.commit()
        t.join(10)
        assert done.is_set()
    bind.dispose()


def test_a_sqlite_unit_holds_the_write_lock_from_its_first_statement_without_engine_listeners(
        tmp_path: object) -> None:
    """BEGIN IMMEDIATE is the dialect's begin: no engine event listener slows every statement down."""
    bind = make_engine(f"sqlite:///{tmp_path}/l.sqlite")
    from engine.store.db import create_schema

    create_schema(bind)
    other = sqlite3.connect(f"{tmp_path}/l.sqlite", timeout=0, isolation_level=None)
    try:
        with make_session_factory(bind)() as s:
            s.execute(select(func.count()).select_from(TaskRow))  # a read only, yet the write lock is held
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released with the session
        other.execute("ROLLBACK")
        assert not bind._has_events  # noqa: SLF001 - the flag SQLAlchemy tests before each dispatch
    finally:
        other.close()
        bind.dispose()


def _two_branches() -> str:
    p = Process("branches")
    p.start()
    p.parallel("split")
    p.user("left", "cs_assistant", [])
    p.user("right", "cs_assistant", [])
    p.parallel("join")
    p.user("after", "cs_manager", [])
    p.end("end")
    p.chain("start", "split", "left", "join", "after", "end")
    p.chain("split", "right", "join")
    return p.xml()


@pytest.mark.postgres
@pytest.mark.parametrize("holding", [False, True], ids=["fresh session", "session holding stale rows"])
def test_a_completion_that_waited_for_the_lock_sees_the_tasks_the_first_one_committed(pg_schema: str,
                                                                                    holding: bool) -> None:
    bind = schema_bind(pg_schema)
    factory = make_session_factory(bind)
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    try:
        with factory() as s:
            a = add_user(s, "a1", "cs_assistant")
            engine.deploy(s, _two_branches())
            iid = engine.start(s, "branches", {}, a).id
            s.commit()
            ids = {r.element_id: r.id for r in engine.open_tasks(s, iid)}
        first = factory()
        engine.complete(first, ids["left"], {}, a)  # holds the instance's lock, not committed yet
        waiting = threading.Event()
        errors: list[BaseException] = []
        held: list[Any] = []
        backend: list[int] = []

        def second() -> None:
            with factory() as s:
                backend.append(s.connection().connection.dbapi_connection.info.backend_pid)
                if holding:  # read before the first unit commits: the session holds both tasks as open
                    held.extend(s.scalars(select(TaskRow).where(TaskRow.instance_id == iid)))
                    held.append(s.get(ProcessInstance, iid))
                waiting.set()
                try:
                    engine.complete(s, ids["right"], {}, a)  # blocks on the lock until `first` commits
                    s.commit()
                except BaseException as exc:  # reported by the assertion below
                    errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        waiting.wait(10)
        # The second unit's lock statement is queued behind the first: wait until PostgreSQL says so (of
        # that backend: other sessions on the server, another pytest-xdist worker's among them, wait too).
        with bind.connect() as watch:
            for _ in range(200):
                waiting_on_lock = text("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE pid = :pid AND wait_event_type = 'Lock'")
                if watch.execute(waiting_on_lock, {"pid": backend[0]}).scalar():
                    break
                threading.Event().wait(0.05)
        first.commit()
        first.close()
        thread.join(30)
        assert errors == []
        with factory() as s:
            found = s.scalars(select(TaskRow).where(TaskRow.instance_id == iid))
            rows = {r.element_id: r.status for r in found}
            version = s.get(ProcessInstance, iid).row_version  # type: ignore[union-attr]
        # A stale read of the open tasks would have cancelled "left" and never opened "after".
        assert rows == {"left": "completed", "right": "completed", "after": "open"}
        if holding:  # the objects the session held were refreshed and written through
            assert held[-1].row_version == version
    finally:
        bind.dispose()
