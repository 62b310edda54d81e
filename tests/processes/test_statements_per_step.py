"""A completed step costs the statements it needs and no more (the unit of work's round trips)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from department.roles import ROLES
from engine.calendar import BusinessCalendar
from engine.runtime import Engine
from engine.store.db import make_session_factory
from tests.conftest import T0, add_user
from tests.pg import schema_bind
from tests.processes.helpers import Scenario, deploy_all

START = {"channel": "phone", "reporter_name": "陳先生", "contact_phone": "13800000000", "unit": "12F-1203",
         "description": "辦公室空調不製冷", "category": "repair", "paid": False}
DISPATCH = {"trade": "hvac", "technician": "technician"}


def statements_of(session: Session, action: Callable[[], Any]) -> list[str]:
    """Run an action and return the SQL statements it sent, whitespace folded."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(bind, "before_cursor_execute", record)
    return sent


def dispatch_statements(sc: Scenario) -> list[str]:
    """Start a repair, claim its dispatch, and return what completing the dispatch sent."""
    sc.start("repair_dispatch", START, "cs_assistant")
    sc.claim("dispatch", "engineering_dispatcher")
    task_id = sc.task("dispatch").id
    actor = sc.actor("engineering_dispatcher")
    return statements_of(sc.session, lambda: sc._unit(  # noqa: SLF001 - the unit of work is measured
        lambda: sc.engine.complete(sc.session, task_id, DISPATCH, actor, now=sc.now)))


def assert_lean(sent: list[str]) -> None:
    """The dispatch step: no version row, the picked technician's roles once, the instance written once."""
    assert not [s for s in sent if "FROM process_versions" in s], "a warm spec cache needs no version row"
    # (The notification to the assigned technician reads its audience with preferences: not a role read.)
    roles_read = [s for s in sent if "FROM users" in s and "notification_preferences" not in s]
    assert len(roles_read) == 1, "picked, then assigned: roles read once"
    assert len([s for s in sent if s.startswith("UPDATE process_instances")]) == 1, sent
    assert len([s for s in sent if s.startswith("SELECT process_instances.id")]) == 1, "one lock"


def test_completing_a_step_reads_no_version_row_and_each_user_once_on_sqlite(sc: Scenario) -> None:
    assert_lean(dispatch_statements(sc))
    assert sc.task("arrive_on_site").assignee == "technician"


@pytest.mark.postgres
def test_completing_a_step_writes_the_instance_once_with_notify_on_postgresql(pg_schema: str) -> None:
    bind = schema_bind(pg_schema)
    try:
        with make_session_factory(bind)() as session:
            people = {role: add_user(session, role, role) for role in ROLES}
            session.commit()
            engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
            deploy_all(session, engine)
            sent = dispatch_statements(Scenario(session, engine, people, T0))
            # The 15-minute arrival deadline moves the wake-up earlier: workers are told, in the same unit.
            assert any("pg_notify" in s for s in sent)
            assert_lean(sent)
    finally:
        bind.dispose()
