"""Prepared reads: the rows SQLAlchemy would give, driver errors raised as SQLAlchemy raises them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import bindparam, event, exc, select, text
from sqlalchemy.orm import Session

from engine.runtime import Actor, Engine
from engine.store.db import make_session_factory
from engine.store.locking import LOCK_BY_TASK
from engine.store.models import ProcessInstance, TaskRow
from engine.store.prepared import Prepared
from tests.conftest import add_user
from tests.engine.test_lifecycle import two_step
from tests.pg import private_schema, schema_bind

INSTANCES = select(*ProcessInstance.__table__.c).where(ProcessInstance.id == bindparam("id"))
TASKS = select(*TaskRow.__table__.c).where(TaskRow.instance_id == bindparam("id"))


def _started_case(session: Session, engine: Engine, starter: Actor) -> tuple[int, str]:
    """Start a two-step case (JSON data, aware datetimes, a state blob); return its id and open task."""
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, starter)
    session.commit()
    [task] = engine.open_tasks(session, inst.id)
    return inst.id, task.id


def _same_rows_as_sqlalchemy(session: Session, iid: int, tid: str) -> None:
    connection = session.connection()
    for statement, values in ((INSTANCES, {"id": iid}), (TASKS, {"id": iid}),
                              (LOCK_BY_TASK.statement, {"task_id": tid})):
        expected = [tuple(row) for row in connection.execute(statement, values).all()]
        assert expected  # the comparison means something
        assert Prepared(statement).rows(connection, values) == expected


def test_a_prepared_read_gives_the_rows_sqlalchemy_gives(session: Session, engine: Engine,
                                                         people: dict[str, Actor]) -> None:
    iid, tid = _started_case(session, engine, people["cs_assistant"])
    _same_rows_as_sqlalchemy(session, iid, tid)


@pytest.mark.postgres
def test_a_prepared_read_on_postgresql_gives_the_rows_sqlalchemy_gives(engine: Engine) -> None:
    with private_schema("prepared reads", prefix="bpm_p") as schema:
        bind = schema_bind(schema)
        try:
            with make_session_factory(bind)() as s:
                starter = add_user(s, "cs_assistant", "cs_assistant")
                iid, tid = _started_case(s, engine, starter)
                _same_rows_as_sqlalchemy(s, iid, tid)
        finally:
            bind.dispose()


@pytest.fixture
def missing_table(session_factory: Callable[[], Session]) -> Iterator[Session]:
    """A session whose database lacks the tasks table."""
    with session_factory() as s:
        s.execute(text("DROP TABLE tasks"))
        s.commit()
        yield s


def test_a_driver_error_in_a_prepared_read_is_raised_as_sqlalchemy_raises_it(missing_table: Session) -> None:
    with pytest.raises(exc.OperationalError, match="no such table"):
        Prepared(TASKS).rows(missing_table.connection(), {"id": 1})
    missing_table.rollback()
    assert missing_table.execute(text("SELECT 1")).scalar() == 1  # the session goes on


def test_a_prepared_read_is_seen_by_whatever_listens_to_the_connections_statements(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    iid, _tid = _started_case(session, engine, people["cs_assistant"])
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", note)
    try:
        rows = Prepared(TASKS).rows(session.connection(), {"id": iid})
    finally:
        event.remove(bind, "before_cursor_execute", note)
    assert len(rows) == 1 and [s for s in seen if "FROM tasks" in s]
