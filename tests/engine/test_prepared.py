"""Prepared statements: writes store and reads return what SQLAlchemy's own execution does; the bind
conversions made cheaper give exactly what SQLAlchemy's did; driver errors are raised as SQLAlchemy's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import Integer, bindparam, exc, insert, literal, select, text
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from engine.notify.outbox import NEW_NOTIFICATION, NOTE_COLUMNS
from engine.runtime import Actor, Engine
from engine.store.db import create_schema, json_text, make_engine, make_session_factory
from engine.store.locking import LOCK_BY_TASK
from engine.store.models import CaseComment, HistoryEvent, ProcessInstance, TaskRow, UTCDateTime
from engine.store.prepared import PreparedRead, compile_prepared
from engine.store.unit_rows import INSTANCES, _update_statement
from tests.conftest import add_user
from tests.engine.test_concurrency import _two_branches
from tests.engine.test_lifecycle import open_tasks, two_step
from tests.engine.test_statements_per_unit import statements, verbs
from tests.pg import private_schema, schema_bind

HISTORY = HistoryEvent.__table__
TASKS = TaskRow.__table__
PLUS_8 = timezone(timedelta(hours=8))

HISTORY_ROWS = [
    {"instance_id": 1, "kind": "task_ready", "at": datetime(2026, 11, 23, 10, 0, tzinfo=PLUS_8),
     "actor": None, "element_id": "first", "task_id": "t-1", "message": "",
     "details": {"role": "技術員", "assignee": None}},
    {"instance_id": 1, "kind": "event", "at": datetime(2026, 11, 23, 2, 0, 0, 1, tzinfo=UTC),
     "actor": "bob", "element_id": None, "task_id": None, "message": "多行\n\"引號\"", "details": None},
]
TASK_ROW = {"id": "t-1", "instance_id": 1, "process_key": "k", "element_id": "first", "title_zh": "第一",
            "title_en": "first", "role": "technician", "assignee": None, "assigned_by_process": False,
            "status": "open", "created_at": datetime(2026, 11, 23, 2, 0, tzinfo=UTC), "due_at": None,
            "overdue": True, "claimed_at": None, "completed_at": None, "completed_by": None,
            "instance_title": "案件"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def bind(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[SqlEngine]:
    """An engine with the schema and one instance row, on SQLite or on a private PostgreSQL schema."""
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path}/prepared.sqlite")
        create_schema(made)
        yield from _with_instance(made)
        return
    with private_schema("prepared statements on PostgreSQL", prefix="bpm_p") as schema:
        yield from _with_instance(schema_bind(schema))


def _with_instance(made: SqlEngine) -> Iterator[SqlEngine]:
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with made.begin() as conn:
        conn.execute(text("INSERT INTO process_versions (id, process_key, version, content_hash, name_zh, "
                          "name_en, bpmn_xml, model, filename, deployed_at, deployed_by) VALUES "
                          "(1, 'k', 1, 'h', '', '', '', '{}', '', :at, '')"), {"at": at})
        conn.execute(insert(INSTANCES), {"id": 1, "process_key": "k", "version_id": 1, "status": "running",
                                         "title": "", "started_by": "x", "started_at": at, "updated_at": at,
                                         "state_format": 1, "state": b"", "data": {}, "row_version": 1})
    yield made
    made.dispose()


def _stored(bind: SqlEngine, sql: str) -> list[tuple[Any, ...]]:
    """Return rows as the database holds them: every column as the text it stores."""
    with bind.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_prepared_inserts_store_what_sqlalchemys_own_execution_stores(bind: SqlEngine) -> None:
    columns = tuple(HISTORY_ROWS[0])
    as_text = "SELECT " + ", ".join(f"CAST({c} AS TEXT)" for c in columns)
    prepared = compile_prepared(insert(HISTORY).inline(), bind.dialect, columns)
    prepared_task = compile_prepared(insert(TASKS).inline(), bind.dialect, tuple(TASK_ROW))
    assert prepared is not None and prepared_task is not None
    with bind.begin() as conn:
        prepared.execute(conn, HISTORY_ROWS)
        prepared_task.execute(conn, [TASK_ROW])
    ours = _stored(bind, f"{as_text} FROM history ORDER BY id"), _stored(bind, "SELECT * FROM tasks")
    with bind.begin() as conn:
        conn.execute(text("DELETE FROM history"))
        conn.execute(text("DELETE FROM tasks"))
        conn.execute(insert(HISTORY).inline(), HISTORY_ROWS)
        conn.execute(insert(TASKS).inline(), [TASK_ROW])
    theirs = _stored(bind, f"{as_text} FROM history ORDER BY id"), _stored(bind, "SELECT * FROM tasks")
    assert ours == theirs
    assert ours[0][0][-1] == '{"role":"技術員","assignee":null}'


def test_a_prepared_guarded_update_stores_what_sqlalchemys_own_execution_stores(bind: SqlEngine) -> None:
    columns = ("data", "due_at", "updated_at")
    statement = _update_statement(INSTANCES, columns)
    values = {"data": {"單位": "A-1", "n": [1.5, None]}, "due_at": None,
              "updated_at": datetime(2026, 11, 24, 9, 30, tzinfo=PLUS_8), "w_id": 1, "w_old": 1, "w_new": 2}
    as_text = "SELECT CAST(data AS TEXT), CAST(due_at AS TEXT), CAST(updated_at AS TEXT), row_version " \
              "FROM process_instances"
    prepared = compile_prepared(statement, bind.dialect)
    assert prepared is not None
    with bind.begin() as conn:
        assert prepared.execute(conn, [values]).rowcount == 1
        assert prepared.execute(conn, [values]).rowcount == 0  # the row version moved on: no match
    ours = _stored(bind, as_text)
    with bind.begin() as conn:
        conn.execute(text("UPDATE process_instances SET row_version = 1"))
        conn.execute(statement, values)
    assert ours == _stored(bind, as_text)


def test_statements_needing_sqlalchemy_at_execution_are_left_to_it(bind: SqlEngine) -> None:
    # Without its Python-side defaults given, the INSERT needs SQLAlchemy to fill them in.
    assert compile_prepared(insert(TASKS).inline(), bind.dialect, ("id", "instance_id")) is None
    # A bound value computed at each execution.
    computed = select(bindparam("now", callable_=datetime.now), bindparam("x"))
    assert compile_prepared(computed, bind.dialect) is None


def test_a_prepared_statement_sends_the_values_its_expression_bound_itself(bind: SqlEngine) -> None:
    # literal(): the expression language binds the value; it is no row's value (the notification's
    # deliveries are written with such: attempts 0, no error yet, the key's separator).
    statement = insert(HISTORY).from_select(
        ["instance_id", "at", "kind", "message"],
        select(bindparam("iid", type_=Integer), bindparam("at", type_=UTCDateTime()), literal("comment"),
               literal("說明：固定")))
    prepared = compile_prepared(statement, bind.dialect)
    if bind.dialect.positional:
        assert prepared is None  # their place among positional parameters is left to SQLAlchemy
        return
    assert prepared is not None
    with bind.begin() as conn:
        row = {"iid": 1, "at": datetime(2026, 11, 23, 2, 0, tzinfo=UTC)}
        assert prepared.execute(conn, [row]).rowcount == 1
    assert _stored(bind, "SELECT kind, message FROM history") == [("comment", "說明：固定")]


def test_the_sqlite_timestamp_conversion_gives_sqlalchemys_text_for_every_moment() -> None:
    dialect = pysqlite.dialect()
    ours = UTCDateTime()._cached_bind_processor(dialect)  # noqa: SLF001
    general = TypeDecorator.bind_processor(UTCDateTime().dialect_impl(dialect), dialect)
    assert ours is not None and general is not None and ours is not general
    now = datetime(2026, 11, 23, 2, 0, 0, 123456, tzinfo=UTC)
    moments = [now, now, datetime(2026, 11, 23, 2, 0, 0, 123456, tzinfo=UTC), None, now,
               datetime(2026, 1, 1, tzinfo=UTC), datetime(999, 3, 4, 5, 6, 7, tzinfo=PLUS_8),
               datetime(2024, 6, 1, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5))), now]
    assert [ours(m) for m in moments] == [general(m) for m in moments]
    assert ours(now) == "2026-11-23 02:00:00.123456"
    with pytest.raises(ValueError, match="naive datetime"):
        ours(datetime(2026, 11, 23, 2, 0))


def test_json_column_text_is_compact_utf8_json_dumps_with_its_errors() -> None:
    samples: list[Any] = [None, 1, 1.5, float("nan"), "é", "王先生", [], {}, {"a": [1, {"b": None}], 3: True},
                          {"k": float("-inf")}, [["x"]]]
    assert [json_text(v) for v in samples] == [json.dumps(v, ensure_ascii=False, separators=(",", ":"))
                                                for v in samples]
    assert json_text({"name": "王先生", "n": [1, 2]}) == '{"name":"王先生","n":[1,2]}'
    looped: list[Any] = []
    looped.append(looped)
    for bad, error in (({"a": object()}, TypeError), ({(1, 2): 1}, TypeError), (looped, ValueError)):
        with pytest.raises(error):
            json.dumps(bad)
        with pytest.raises(error):
            json_text(bad)


def test_completing_one_of_two_parallel_tasks_writes_only_its_own_task_row(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, _two_branches())
    inst = engine.start(session, "branches", {}, people["cs_assistant"])
    session.commit()
    left = next(r for r in open_tasks(session, inst.id) if r.element_id == "left")
    with statements(session) as sql:
        engine.complete(session, left.id, {}, people["cs_assistant"])
        session.commit()
    # The other branch's open row is unchanged: setting its due time to the same value made it an UPDATE.
    assert verbs(sql).count("UPDATE tasks") == 1, sql
    assert [r.element_id for r in open_tasks(session, inst.id)] == ["right"]


def test_a_unit_the_orm_flushes_writes_the_same_task_rows_as_the_units_own_writes(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    ours, flushed = (engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
                     for _ in range(2))
    session.commit()
    for inst in (ours, flushed):
        [first] = open_tasks(session, inst.id)
        if inst is flushed:  # another model's row in the unit: the whole flush is the ORM's
            session.add(CaseComment(instance_id=inst.id, author="x", at=inst.started_at, body="note"))
        engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
        session.commit()
    session.expunge_all()
    rows = [session.execute(text("SELECT * FROM tasks WHERE instance_id = :i AND status = 'open'"),
                            {"i": inst.id}).one()._asdict() for inst in (ours, flushed)]
    for row in rows:
        row.pop("id")
        row.pop("instance_id")
    assert rows[0] == rows[1] and rows[0]["element_id"] == "second"
    assert session.get(ProcessInstance, flushed.id).row_version == ours.row_version  # type: ignore[union-attr]


INSTANCE_ROW = select(*ProcessInstance.__table__.c).where(ProcessInstance.id == bindparam("id"))
TASK_ROWS = select(*TaskRow.__table__.c).where(TaskRow.instance_id == bindparam("id"))


def _started_case(session: Session, engine: Engine, starter: Actor) -> tuple[int, str]:
    """Start a two-step case (JSON data, aware datetimes, a state blob); return its id and open task."""
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, starter)
    session.commit()
    [task] = engine.open_tasks(session, inst.id)
    return inst.id, task.id


def _same_rows_as_sqlalchemy(session: Session, iid: int, tid: str) -> None:
    connection = session.connection()
    for statement, values in ((INSTANCE_ROW, {"id": iid}), (TASK_ROWS, {"id": iid}),
                              (LOCK_BY_TASK.statement, {"task_id": tid})):
        expected = [tuple(row) for row in connection.execute(statement, values).all()]
        assert expected  # the comparison means something
        assert PreparedRead(statement).rows(connection, values) == expected


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
        PreparedRead(TASK_ROWS).rows(missing_table.connection(), {"id": 1})
    missing_table.rollback()
    assert missing_table.execute(text("SELECT 1")).scalar() == 1  # the session goes on


def test_a_prepared_read_is_seen_by_whatever_listens_to_the_connections_statements(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    iid, _tid = _started_case(session, engine, people["cs_assistant"])
    with statements(session) as seen:
        rows = PreparedRead(TASK_ROWS).rows(session.connection(), {"id": iid})
    assert len(rows) == 1 and [s for s in seen if "FROM tasks" in s]


def _notification(at: datetime) -> dict[str, Any]:
    """Return a notification's column values, as the outbox writes them."""
    return {"dedupe_key": None, "event": "task_ready", "urgent": False, "instance_id": 1, "task_id": "t-1",
            "element_id": "first", "role": "technician", "assignee": None, "actor": "bob", "title_zh": "第一",
            "title_en": "first", "message_zh": "", "message_en": "", "due_at": None, "path": "/tasks/t-1",
            "created_at": at}


def test_a_prepared_insert_returns_its_row_as_sqlalchemys_own_execution_returns_it(bind: SqlEngine) -> None:
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    prepared = compile_prepared(NEW_NOTIFICATION, bind.dialect, NOTE_COLUMNS)
    assert prepared is not None and prepared.returning
    with bind.begin() as conn:
        ours = prepared.returned(conn, _notification(at))
        theirs = tuple(conn.execute(NEW_NOTIFICATION, _notification(at)).one())
    token = _stored(bind, "SELECT token FROM notification_audience_version")[0][0]
    assert ours == (theirs[0] - 1, token) and theirs[1] == token
    stored = _stored(bind, "SELECT CAST(created_at AS TEXT), title_zh, urgent FROM notifications ORDER BY id")
    assert stored[0] == stored[1]


def test_a_driver_error_in_a_prepared_insert_is_raised_as_sqlalchemy_raises_it(bind: SqlEngine) -> None:
    keys = (*HISTORY_ROWS[0], "id")
    prepared = compile_prepared(insert(HISTORY).returning(HISTORY.c.id), bind.dialect, keys)
    assert prepared is not None
    with bind.connect() as conn:
        conn.begin()
        prepared.returned(conn, {**HISTORY_ROWS[0], "id": 7})
        with pytest.raises(exc.IntegrityError):
            prepared.returned(conn, {**HISTORY_ROWS[0], "id": 7})
        conn.rollback()
        assert conn.execute(text("SELECT 1")).scalar() == 1  # the connection goes on


def test_a_prepared_insert_is_seen_by_whatever_listens_to_the_connections_statements(bind: SqlEngine) -> None:
    prepared = compile_prepared(NEW_NOTIFICATION, bind.dialect, NOTE_COLUMNS)
    assert prepared is not None
    with statements(bind) as seen, bind.begin() as conn:
        prepared.returned(conn, _notification(datetime(2026, 11, 23, 2, 0, tzinfo=UTC)))
    assert [s for s in seen if s.startswith("INSERT INTO notifications")]


def test_a_prepared_insert_gives_the_key_and_count_sqlalchemys_own_execution_gives(bind: SqlEngine) -> None:
    prepared = compile_prepared(insert(HISTORY), bind.dialect, tuple(HISTORY_ROWS[0]))
    assert prepared is not None
    with bind.begin() as conn:
        ours = prepared.execute(conn, [HISTORY_ROWS[0]])
        theirs = conn.execute(insert(HISTORY), HISTORY_ROWS[0])
        key = ours.scalar_one() if prepared.returning else ours.lastrowid
        assert (key + 1, ours.rowcount) == (theirs.inserted_primary_key[0], theirs.rowcount)
        many = compile_prepared(insert(HISTORY).inline(), bind.dialect, tuple(HISTORY_ROWS[0]))
        assert many is not None
        assert many.execute(conn, HISTORY_ROWS).rowcount == len(HISTORY_ROWS)


def test_a_driver_error_in_a_prepared_write_is_raised_as_sqlalchemy_raises_it(bind: SqlEngine) -> None:
    prepared = compile_prepared(insert(TASKS).inline(), bind.dialect, tuple(TASK_ROW))
    assert prepared is not None
    with bind.connect() as conn:
        conn.begin()
        prepared.execute(conn, [TASK_ROW])
        with pytest.raises(exc.IntegrityError):
            prepared.execute(conn, [TASK_ROW])
        conn.rollback()
        conn.begin()
        with pytest.raises(exc.IntegrityError):
            prepared.execute(conn, [TASK_ROW, TASK_ROW])
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM tasks")).scalar() == 0  # rolled back, and going on


def test_a_prepared_write_is_seen_by_whatever_listens_to_the_connections_statements(bind: SqlEngine) -> None:
    prepared = compile_prepared(insert(TASKS).inline(), bind.dialect, tuple(TASK_ROW))
    assert prepared is not None
    with statements(bind) as seen, bind.begin() as conn:
        assert prepared.execute(conn, [TASK_ROW]).rowcount == 1
    assert [s for s in seen if s.startswith("INSERT INTO tasks")]
