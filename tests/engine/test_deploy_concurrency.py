"""Deploys of one process key: serialised, refused when the caller's version is stale, never a 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.errors import Conflict, PreconditionFailed
from engine.runtime import Engine
from engine.store.db import make_session_factory
from engine.store.models import ProcessVersion
from engine.store.unit_of_work import run_unit
from tests.bpmn_builder import Process
from tests.conftest import T0
from tests.pg import pg_schema, schema_bind

__all__ = ["pg_schema"]
KEY = "deploy_race"
ROUNDS = 30


def _xml(title: str, key: str = KEY) -> str:
    """Return a small valid process whose one task is called `title` (so each title is new content)."""
    p = Process(key, starters="cs_assistant")
    p.start(lane="cs_assistant").user("review", "cs_assistant", name=title).end()
    p.chain("start", "review", "end")
    return p.xml()


def _versions(factory: Callable[[], Session], key: str = KEY) -> list[int]:
    with factory() as s:
        return list(s.scalars(select(ProcessVersion.version).where(ProcessVersion.process_key == key)
                              .order_by(ProcessVersion.version)))


def _engine() -> Engine:
    return Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)


def test_a_deploy_based_on_an_older_version_is_a_conflict(session: Session) -> None:
    engine = _engine()
    v1 = engine.deploy(session, _xml("one"), base_hash="")
    v2 = engine.deploy(session, _xml("two"), base_hash=v1.content_hash)
    assert (v1.version, v2.version, v2.created) == (1, 2, True)
    with pytest.raises(Conflict, match="version 2 is the newest"):
        engine.deploy(session, _xml("mine"), base_hash=v1.content_hash)
    with pytest.raises(Conflict):
        engine.deploy(session, _xml("mine"), base_hash="")  # "a new process", but the key exists
    assert [r.version for r in session.scalars(select(ProcessVersion))] == [1, 2]


def test_if_match_naming_another_version_fails_the_precondition(session: Session) -> None:
    engine = _engine()
    with pytest.raises(PreconditionFailed):
        engine.deploy(session, _xml("one"), if_match=["*"])  # "*" needs a version to exist
    v1 = engine.deploy(session, _xml("one"), if_match=None)
    v2 = engine.deploy(session, _xml("two"), if_match=["*"])
    with pytest.raises(PreconditionFailed):
        engine.deploy(session, _xml("three"), if_match=[v1.content_hash])
    v3 = engine.deploy(session, _xml("three"), if_match=["other", v2.content_hash])
    same = engine.deploy(session, _xml("three"), if_match=[v3.content_hash])
    assert (v3.version, same.version, same.created, same.content_hash) == (3, 3, False, v3.content_hash)


def _deploy_in_thread(factory: Callable[[], Session], engine: Engine, xml: str, barrier: threading.Barrier,
                      outcomes: list[tuple[str, object]], **expected: Any) -> threading.Thread:
    """Start a thread that deploys as its own unit of work once both sides are ready; note the outcome."""
    def deploy() -> None:
        with factory() as s:
            try:
                barrier.wait(10)
                result = run_unit(s, lambda: engine.deploy(s, xml, **expected)).unwrap()
                outcome: tuple[str, object] = ("version", result.version)
            except Conflict:
                outcome = ("conflict", None)
            except Exception as exc:  # any other error (IntegrityError…) is what this test looks for
                outcome = ("error", repr(exc))
        outcomes.append(outcome)

    thread = threading.Thread(target=deploy)
    thread.start()
    return thread


@pytest.mark.postgres
def test_concurrent_deploys_of_one_key_on_postgres_get_a_version_or_a_conflict(pg_schema: str) -> None:
    bind = schema_bind(pg_schema)
    factory, engine = make_session_factory(bind), _engine()
    outcomes: list[tuple[str, object]] = []
    try:
        for n in range(ROUNDS):
            with factory() as s:
                newest = s.scalar(select(ProcessVersion.content_hash).where(ProcessVersion.process_key == KEY)
                                  .order_by(ProcessVersion.version.desc()).limit(1))
            # Even rounds (the first deploy of the key among them, with no row to lock): no expectation,
            # so both deploys store a version. Odd rounds: two editors opened the same version.
            expected: dict[str, Any] = {} if n % 2 == 0 else {"base_hash": newest}
            barrier = threading.Barrier(2)
            this_round: list[tuple[str, object]] = []
            threads = [_deploy_in_thread(factory, engine, _xml(f"round {n} side {side}"), barrier,
                                         this_round, **expected) for side in "ab"]
            for t in threads:
                t.join(30)
            assert not any(t.is_alive() for t in threads), f"round {n} hangs"
            kinds = sorted(kind for kind, _ in this_round)
            assert kinds == (["version", "version"] if n % 2 == 0 else ["conflict", "version"]), this_round
            outcomes.extend(this_round)
        stored = _versions(factory)
    finally:
        bind.dispose()
    won = sorted(int(str(v)) for kind, v in outcomes if kind == "version")
    assert won == stored == list(range(1, ROUNDS * 3 // 2 + 1))  # gap-free, one per winning deploy


@pytest.mark.postgres
def test_a_deploy_that_loses_the_race_while_waiting_is_a_conflict_on_postgres(pg_schema: str) -> None:
    bind = schema_bind(pg_schema)
    factory, engine = make_session_factory(bind), _engine()
    try:
        with factory() as s:
            v1 = run_unit(s, lambda: engine.deploy(s, _xml("one"))).unwrap()
        outcomes: list[tuple[str, object]] = []
        with factory() as first:
            engine.deploy(first, _xml("two"), if_match=[v1.content_hash])  # holds the key's lock
            barrier = threading.Barrier(1)
            waiting = _deploy_in_thread(factory, engine, _xml("mine"), barrier, outcomes,
                                        if_match=[v1.content_hash])
            time.sleep(0.5)
            assert waiting.is_alive(), "the second deploy did not wait for the first"
            first.commit()
        waiting.join(30)
        assert outcomes == [("conflict", None)]
        assert _versions(factory) == [1, 2]
    finally:
        bind.dispose()


@pytest.mark.postgres
def test_a_deploy_in_another_schema_of_the_database_does_not_wait_for_the_key_lock(pg_schema: str) -> None:
    from sqlalchemy import text

    from tests.pg import private_schema

    bind = schema_bind(pg_schema)
    factory, engine = make_session_factory(bind), _engine()
    with private_schema("deploy locks per schema", prefix="bpm_t_other") as other:
        other_bind = schema_bind(other)
        try:
            with factory() as first:
                engine.deploy(first, _xml("two"))  # holds this schema's lock on the key until it ends
                with make_session_factory(other_bind)() as second:
                    # The advisory lock is the database's: keyed by the key alone, this deploy would wait
                    # for `first` (and fail on the timeout) although it touches other tables.
                    second.execute(text("SET LOCAL lock_timeout = '5s'"))
                    assert engine.deploy(second, _xml("mine")).version == 1
                    second.commit()
                first.commit()
        finally:
            other_bind.dispose()
            bind.dispose()
