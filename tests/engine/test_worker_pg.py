"""Several timer-worker processes on PostgreSQL: every due timer fires exactly once, even after a kill."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import worker as worker_mod
from engine.calendar import BusinessCalendar
from engine.runtime import Actor, Engine
from engine.store.db import make_session_factory
from engine.store.models import HistoryEvent, ProcessInstance
from engine.worker import Worker, fire_due
from tests.bpmn_builder import Process
from tests.conftest import PG_URL, T0, add_user
from tests.pg import private_schema, schema_bind

from .test_worker import SleepLog, count_passes

pytestmark = pytest.mark.postgres

INSTANCES = 200
LISTEN_JOIN = worker_mod.LISTEN_SLICE + 5  # the listener notices `stop` between slices
FIRE_AT = T0 + timedelta(minutes=16)


_BINDS: list[SqlEngine] = []


def pg_bind(schema: str, **kw: Any) -> SqlEngine:
    """Return an engine whose connections use their own schema (a fresh database per test)."""
    bind = schema_bind(schema, **kw)
    _BINDS.append(bind)
    return bind


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """Create a unique schema with the tables, drop it afterwards (and close every pool opened)."""
    with private_schema("the multi-worker exactly-once guarantees (start PostgreSQL with pg_ctlcluster … "
                        "main start)", prefix="bpm_test") as schema:
        try:
            yield schema
        finally:
            for opened in _BINDS:  # before the schema is dropped: an idle pooled connection would hold it
                opened.dispose()
            _BINDS.clear()


def _engine() -> Engine:
    return Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)


def populate(schema: str, count: int = INSTANCES) -> sessionmaker[Session]:
    """Deploy a 15-minute deadline process and start `count` instances at T0."""
    factory = make_session_factory(pg_bind(schema))
    engine = _engine()
    p = Process("deadline")
    p.start()
    p.user("arrive", "technician", [])
    p.timer("late", "arrive", duration="PT15M")
    p.user("follow_up", "engineering_dispatcher", [])
    p.end("end")
    p.end("fu_end")
    p.chain("start", "arrive", "end")
    p.chain("late", "follow_up", "fu_end")
    with factory() as s:
        add_user(s, "technician", "technician")
        add_user(s, "engineering_dispatcher", "engineering_dispatcher")
        engine.deploy(s, p.xml())
        actor = Actor("cs_assistant", frozenset({"cs_assistant"}))
        for _ in range(count):
            engine.start(s, "deadline", {}, actor, now=T0)
        s.commit()
    return factory


def fired_per_instance(factory: sessionmaker[Session]) -> dict[int, int]:
    """Return {instance id: number of timer_fired rows} for every instance."""
    with factory() as s:
        counts = dict(s.execute(
            select(ProcessInstance.id, func.count(HistoryEvent.id))
            .outerjoin(HistoryEvent, (HistoryEvent.instance_id == ProcessInstance.id)
                       & (HistoryEvent.kind == "timer_fired"))
            .group_by(ProcessInstance.id)).all())
        return counts


def run_worker(schema: str, go: Any, results: Any) -> None:
    """Child process: wait for the start signal, fire everything due, report how many."""
    bind = pg_bind(schema)
    go.wait(30)
    fired = fire_due(make_session_factory(bind), _engine(), now=FIRE_AT)
    results.put(fired)
    bind.dispose()


def _spawn(schema: str, count: int) -> tuple[list[Any], Any, Any]:
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=run_worker, args=(schema, go, results), daemon=True) for _ in range(count)]
    for proc in procs:
        proc.start()
    return procs, go, results


def test_three_worker_processes_fire_every_due_timer_exactly_once(pg_schema: str) -> None:
    factory = populate(pg_schema)
    procs, go, results = _spawn(pg_schema, 3)
    time.sleep(1.5)  # let all three import and connect, so they really race
    go.set()
    for proc in procs:
        proc.join(45)
        assert proc.exitcode == 0
    per_worker = [results.get(timeout=5) for _ in procs]
    assert sum(per_worker) == INSTANCES
    assert sorted(fired_per_instance(factory).values()) == [1] * INSTANCES
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(ProcessInstance)
                        .where(ProcessInstance.next_wakeup_at.is_not(None))) == 0


def test_a_worker_killed_mid_run_loses_nothing_and_fires_nothing_twice(pg_schema: str) -> None:
    factory = populate(pg_schema)
    procs, go, _results = _spawn(pg_schema, 1)
    go.set()
    deadline = time.monotonic() + 40
    while sum(fired_per_instance(factory).values()) < INSTANCES // 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert procs[0].pid is not None
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].join(10)
    partial = fired_per_instance(factory)
    assert 0 < sum(partial.values()) < INSTANCES and max(partial.values()) == 1
    restarted, go, results = _spawn(pg_schema, 2)
    go.set()
    for proc in restarted:
        proc.join(45)
        assert proc.exitcode == 0
    assert sum(results.get(timeout=5) for _ in restarted) == INSTANCES - sum(partial.values())
    assert sorted(fired_per_instance(factory).values()) == [1] * INSTANCES


def test_the_engine_notifies_listeners_at_commit_when_a_wakeup_moves_earlier(pg_schema: str) -> None:
    import psycopg

    factory = populate(pg_schema, count=1)
    with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as listen:
        listen.execute("LISTEN bpm_wakeup")
        with factory() as s:
            _engine().start(s, "deadline", {}, Actor("cs_assistant", frozenset({"cs_assistant"})), now=T0)
            # The channel is per database: tests in other schemas (another pytest-xdist worker) notify on
            # it too, so only this session's backend counts.
            sender = s.connection().connection.dbapi_connection.info.backend_pid
            assert [n for n in listen.notifies(timeout=0.5) if n.pid == sender] == []  # not before commit
            s.commit()
        # The payload names the schema, so workers of other deployments in the database ignore it.
        assert any(n.pid == sender and n.payload == pg_schema for n in listen.notifies(timeout=3)), \
            "no NOTIFY naming the schema from the session"


def test_a_pg_worker_is_woken_by_a_notification_from_another_connection(pg_schema: str) -> None:
    import psycopg

    factory = populate(pg_schema, count=1)
    worker = Worker(factory, _engine(), max_sleep=30.0)
    passes = count_passes(worker)
    log = worker._wake = SleepLog()  # noqa: SLF001 - observe its sleeps
    worker_mod.WAKE.clear()
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        # The listener wakes the worker once it is listening (WAKE); after that, wait for a sleep that
        # began with no wake-up pending: the instance is not due at T0, so only a notification ends it.
        assert worker_mod.WAKE.wait(120)
        listening = len(log.until(lambda s: True))
        asleep = log.until(lambda s: any(not x.pending and x.woken is None for x in s[listening:]))
        before = len(passes)
        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute("NOTIFY bpm_wakeup")
        index = len(asleep) - 1
        after = log.until(lambda s: s[index].woken is not None and len(passes) > before)
        assert after[index].woken is True and after[index].seconds == pytest.approx(30.001)
    finally:
        stop.set()
        worker.stop()
        thread.join(60)
    assert not thread.is_alive()


def test_the_listener_ignores_a_wakeup_naming_another_schema(pg_schema: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    seen: list[str] = []  # payloads the listener looked at, in order
    at_wake: list[list[str]] = []  # what it had seen each time it woke the workers
    woken = threading.Event()
    filter_for = worker_mod.is_for_schema

    def looked(payload: str, schema: str) -> bool:
        seen.append(payload)
        return filter_for(payload, schema)

    def wake() -> None:
        at_wake.append(list(seen))
        woken.set()

    monkeypatch.setattr(worker_mod, "is_for_schema", looked)
    monkeypatch.setattr(worker_mod, "wake_local", wake)
    stop = threading.Event()
    listener = worker_mod._Listener(PG_URL.replace("postgresql+psycopg", "postgresql"), stop,  # noqa: SLF001
                                    pg_schema)
    listener.start()
    try:
        assert woken.wait(60), "the listener never started"  # it wakes once when it starts listening
        at_wake.clear()
        woken.clear()
        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute("SELECT pg_notify('bpm_wakeup', 'bpm_some_other_deployment')")
            conn.execute("SELECT pg_notify('bpm_wakeup', %s)", (pg_schema,))
        assert woken.wait(60), "the schema's own wake-up was not heard"
        # Notifications arrive in order: the first wake-up came only after both were looked at.
        assert at_wake[0][-2:] == ["bpm_some_other_deployment", pg_schema]
    finally:
        stop.set()
        listener.thread.join(LISTEN_JOIN)
