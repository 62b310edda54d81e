"""PostgreSQL updates a case's row in place (HOT) when a unit changes none of its indexed columns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.common import START_DATA, STEPS
from engine.runtime import Actor, Engine
from engine.store.db import make_session_factory
from engine.store.models import ProcessInstance
from engine.store.unit_of_work import run_unit
from tests.conftest import T0, add_user
from tests.pg import private_schema, schema_bind
from tests.processes.helpers import deploy_all

pytestmark = pytest.mark.postgres

CASES = 12  # rows of 1-2 kB, worked in turns: several pages of cases, each updated while others are
INSTANCES: Table = ProcessInstance.__table__  # type: ignore[assignment]
# Every column an index of the case table holds (keys, PostgreSQL's INCLUDE; the partial index's predicate
# column is one of its keys): a change of any of them takes an entry in every index, never in place.
INDEXED = sorted({c.name for ix in INSTANCES.indexes for c in ix.columns}
                 | {n for ix in INSTANCES.indexes for n in ix.dialect_options["postgresql"]["include"] or ()}
                 | {c.name for c in INSTANCES.primary_key})
# This backend's updates of the case table not yet reported to the pg_stat views, and how many were HOT.
UPDATES = text("SELECT pg_stat_get_xact_tuples_updated('process_instances'::regclass), "
               "pg_stat_get_xact_tuples_hot_updated('process_instances'::regclass)")


@pytest.fixture
def factory() -> Iterator[sessionmaker[Session]]:
    """Sessions on a private schema holding the product's processes."""
    with private_schema("HOT updates of case rows", prefix="bpm_h") as schema:
        bind = schema_bind(schema)
        yield make_session_factory(bind)
        bind.dispose()


# A transaction id just taken, and whether any other session of the server still holds an older one or a
# snapshot older than it (pg_stat_activity is server-wide, as the horizon that keeps old versions is).
NEW_XID = text("SELECT pg_current_xact_id()::xid")
OLDER = text("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
             "AND (age(backend_xmin) > age(CAST(:xid AS xid)) OR age(backend_xid) > age(CAST(:xid AS xid)))")


def _wait_for_older_snapshots_to_end(factory: sessionmaker[Session]) -> None:
    """Wait until no other transaction of the server could still see this test's last row versions."""
    # PostgreSQL prunes a page of an updated row's old version (making room for the next in-place update)
    # only once no snapshot anywhere on the server may still see it: a parallel test's open transaction
    # would turn the next update into a move, whatever the fill factor.
    with factory() as s:
        xid = s.scalar(NEW_XID)
        s.commit()
        while s.scalar(OLDER, {"xid": xid}):
            s.rollback()
            time.sleep(0.05)
        s.rollback()


def _indexed(s: Session, iid: int) -> tuple[Any, ...]:
    """Return the case row's indexed columns as stored."""
    columns = (INSTANCES.c[name] for name in INDEXED)
    return tuple(s.execute(select(*columns).where(INSTANCES.c.id == iid)).one())


def test_a_unit_that_changes_no_indexed_column_updates_the_case_row_in_place(
        factory: sessionmaker[Session]) -> None:
    engine = Engine(clock=lambda: T0)
    roles = ("cs_assistant", "engineering_dispatcher", "technician", "area_foreman")
    with factory() as s:
        for role in roles:
            add_user(s, role, role)
        deploy_all(s, engine)
        s.commit()
    actors = {role: Actor(role, frozenset({role})) for role in roles}
    with factory() as s:
        started = [run_unit(s, lambda: engine.start(s, "repair_dispatch", START_DATA, actors["cs_assistant"]))
                   .unwrap().id for _ in range(CASES)]
    in_place, moved = [], []  # (updates, HOT updates) of units keeping the indexed columns, of the others
    for _ in STEPS:  # every case one step on, in turns
        for iid in started:
            _wait_for_older_snapshots_to_end(factory)
            with factory() as s:
                [task] = engine.open_tasks(s, iid)
                role, data = STEPS[task.element_id]
                before, (updated, hot) = _indexed(s, iid), s.execute(UPDATES).one()
                engine.complete(s, task.id, data, actors[role])
                s.flush()
                now_updated, now_hot = s.execute(UPDATES).one()
                (in_place if _indexed(s, iid) == before else moved).append((now_updated - updated,
                                                                           now_hot - hot))
                s.commit()
    assert len(in_place) >= CASES  # the path has such a step: the assertion below is not vacuous
    assert in_place == [(1, 1)] * len(in_place)
    assert moved == [(1, 0)] * len(moved)
