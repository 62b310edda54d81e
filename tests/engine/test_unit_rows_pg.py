"""The unit's writes on PostgreSQL: one pipeline, its version check and its errors as on any other path."""

from __future__ import annotations

import re
import select as sockets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from psycopg import pq
from sqlalchemy import Connection, event, exc, func, select, text
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.errors import Conflict
from engine.notify import outbox
from engine.notify.models import Delivery, Notification
from engine.runtime import Actor, Engine
from engine.store import history
from engine.store.db import make_engine, make_session_factory
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from engine.store.pending import VALUES_ROWS
from engine.store.prepared import compile_prepared
from engine.store.unit_of_work import run_unit
from engine.store.unit_rows import INSTANCES, _update_statement
from tests.conftest import PG_URL, T0, add_user
from tests.engine.test_lifecycle import open_tasks, two_step
from tests.engine.test_statements_per_unit import statements, verbs
from tests.pg import private_schema, schema_bind

pytestmark = pytest.mark.postgres

Factory = Callable[[], Session]


@pytest.fixture
def factory() -> Iterator[Factory]:
    """Sessions on a private schema holding the two-step process and its people."""
    with private_schema("the unit's pipelined writes", prefix="bpm_u") as schema:
        bind = schema_bind(schema)
        made = make_session_factory(bind)
        with made() as s:
            for name in ("cs_assistant", "cs_assistant2", "cs_manager"):
                add_user(s, name, name.rstrip("2"))
            s.commit()
        yield made
        bind.dispose()


@pytest.fixture
def engine() -> Engine:
    """An engine on a calendar without country holidays."""
    return Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)


ASSISTANT, ASSISTANT2 = Actor("cs_assistant", frozenset({"cs_assistant"})), \
    Actor("cs_assistant2", frozenset({"cs_assistant"}))


def _started(factory: Factory, engine: Engine) -> tuple[int, int, str]:
    """Start one two-step case; return its id, row version and first task's id."""
    with factory() as s:
        engine.deploy(s, two_step())
        inst = run_unit(s, lambda: engine.start(s, "two_step", {"unit": "A-1"}, ASSISTANT)).unwrap()
        [first] = open_tasks(s, inst.id)
        return inst.id, inst.row_version, first.id


def test_a_completions_writes_go_to_postgresql_in_one_pipeline(factory: Factory, engine: Engine) -> None:
    iid, _version, first = _started(factory, engine)
    piped: list[tuple[str, bool]] = []

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        status = conn.connection.driver_connection.pgconn.pipeline_status
        kind = "INSERT notification" if statement.startswith("WITH note AS") else verbs([statement])[0]
        piped.append((kind, bool(status)))

    with factory() as s:
        event.listen(s.get_bind(), "before_cursor_execute", note)
        try:
            run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", note)
        [second] = open_tasks(s, iid)
        assert second.element_id == "second"
        assert s.scalar(select(ProcessInstance.row_version).where(ProcessInstance.id == iid)) == _version + 1
    # The notification to the next task's role (its audience read just before) goes with the unit's rows.
    writes = {"UPDATE process_instances", "UPDATE tasks", "INSERT tasks", "INSERT history",
              "INSERT notification"}
    assert {verb for verb, in_pipeline in piped if in_pipeline} == writes, piped
    # The reads around them (the lock, the audience) are answered on their own.
    assert not any(in_pipeline for verb, in_pipeline in piped if verb.startswith("SELECT"))


@contextmanager
def history_inserts(s: Session) -> Iterator[list[dict[str, Any]]]:
    """Give the parameters of each INSERT INTO history the session's engine sent while the block ran."""
    parameters: list[Any] = []
    inserts: list[dict[str, Any]] = []
    with statements(s, parameters) as sql:
        yield inserts
    inserts.extend(sent for text, sent in zip(sql, parameters, strict=True)
                   if text.startswith("INSERT INTO history"))


def test_a_lost_row_version_race_on_postgresql_is_a_conflict_and_nothing_is_written(
        factory: Factory, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    iid, version, first = _started(factory, engine)
    real = Engine._advance  # noqa: SLF001 (the step just before the unit's writes)
    with factory() as s:
        notes_before = s.scalar(select(func.count()).select_from(Notification))
        history_before = s.scalar(select(func.count()).select_from(HistoryEvent))

        def meddling(self: Engine, loaded: object) -> None:
            real(self, loaded)  # type: ignore[arg-type]
            # Someone else's write slipped in between the unit's read and its write.
            s.connection().execute(text("UPDATE process_instances SET row_version = row_version + 1 "
                                        "WHERE id = :i"), {"i": iid})

        monkeypatch.setattr(Engine, "_advance", meddling)
        with pytest.raises(Conflict):
            run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
        monkeypatch.undo()
    with factory() as s:
        assert s.scalar(select(ProcessInstance.row_version).where(ProcessInstance.id == iid)) == version
        assert s.execute(select(TaskRow.element_id, TaskRow.status).where(TaskRow.instance_id == iid)).all() \
            == [("first", "open")]
        assert s.scalar(select(func.count()).select_from(HistoryEvent)) == history_before
        assert s.scalar(select(func.count()).select_from(Notification)) == notes_before


def test_a_statement_failing_inside_the_pipeline_is_raised_as_sqlalchemy_raises_it(
        factory: Factory, engine: Engine) -> None:
    iid, version, first = _started(factory, engine)
    with factory() as s:
        def complete_with_a_bad_row() -> None:
            # A history row of no instance: the foreign key refuses it, at the pipeline's end.
            history.record(s, iid + 1000, "comment", T0, message="orphan")
            engine.complete(s, first, {"ok": True}, ASSISTANT2)

        with pytest.raises(exc.IntegrityError):
            run_unit(s, complete_with_a_bad_row)
    with factory() as s:
        assert s.scalar(select(ProcessInstance.row_version).where(ProcessInstance.id == iid)) == version
        assert [t.element_id for t in open_tasks(s, iid)] == ["first"]


def test_a_unit_with_a_single_history_row_writes_it_in_the_pipeline_without_asking_its_id(
        factory: Factory, engine: Engine) -> None:
    iid, version, _first = _started(factory, engine)
    admin = Actor("boss", frozenset({"admin"}))
    with factory() as s:
        # One instance update and one history row: a lone insert would otherwise fetch its new id.
        run_unit(s, lambda: engine.suspend(s, iid, admin, reason="customer away"))
    with factory() as s:
        inst = s.get(ProcessInstance, iid)
        assert inst is not None and (inst.status, inst.row_version) == ("suspended", version + 1)
        assert s.scalars(select(HistoryEvent.message).where(HistoryEvent.instance_id == iid,
                                                            HistoryEvent.kind == "suspended")).all() \
            == ["customer away"]


def test_a_units_history_rows_go_as_one_insert_and_are_stored_in_the_order_they_happened(
        factory: Factory, engine: Engine) -> None:
    iid, _version, first = _started(factory, engine)
    with factory() as s:
        before = s.scalar(select(func.max(HistoryEvent.id)))
        with history_inserts(s) as sent:
            run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
        [rows] = sent  # one statement, not one per row
        kinds = [rows[f"kind_{i}"] for i in range(len(rows) // 8)]
        assert len(kinds) >= 2 and len(rows) == 8 * len(kinds)  # eight columns a row
        stored = s.scalars(select(HistoryEvent.kind).order_by(HistoryEvent.id)
                           .where(HistoryEvent.instance_id == iid, HistoryEvent.id > before))
        assert list(stored) == kinds


def test_many_history_rows_of_one_unit_go_in_bounded_values_lists_and_keep_their_order(
        factory: Factory, engine: Engine) -> None:
    iid, _version, first = _started(factory, engine)
    with factory() as s:
        def remarks_then_complete() -> None:
            for i in range(70):
                history.record(s, iid, "comment", T0, message=f"remark {i}")
            engine.complete(s, first, {"ok": True}, ASSISTANT2)

        before = s.scalar(select(func.count()).select_from(HistoryEvent))
        with history_inserts(s) as sent:
            run_unit(s, remarks_then_complete)
        sizes = [len(rows) // 8 for rows in sent]  # the remarks and the completion's own rows
        assert sizes[:2] == [VALUES_ROWS, VALUES_ROWS] and len(sizes) == 3
        assert sum(sizes) == s.scalar(select(func.count()).select_from(HistoryEvent)) - before
        stored = s.scalars(select(HistoryEvent.message).where(HistoryEvent.instance_id == iid,
                                                              HistoryEvent.kind == "comment")
                           .order_by(HistoryEvent.id))
        assert list(stored) == [f"remark {i}" for i in range(70)]


def _refused(what: str) -> Callable[..., Any]:
    """Return a stand-in for one of SQLAlchemy's execution methods that fails the test if called."""
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"{what} went through SQLAlchemy's execution step")

    return refuse


def test_a_completion_on_postgresql_goes_past_sqlalchemys_execution_step(
        factory: Factory, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _iid, _version, first = _two_cases(factory, engine)  # the next task's audience is kept: no read of it

    with factory() as s:
        monkeypatch.setattr(Connection, "_execute_context", _refused("a completion's statement"))
        # The lock, the rows, their history and the notification with its deliveries: all prepared.
        run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
        monkeypatch.undo()
    with factory() as s:
        second = select(TaskRow.id).where(TaskRow.element_id == "second")
        told = s.scalars(select(Delivery.idempotency_key).join(Notification)
                         .where(Notification.task_id.in_(second)))
        assert sorted(told)[-1].endswith(":app:cs_manager")  # the literal separator went with it


def test_a_pipelined_write_skips_sqlalchemys_execution_and_reports_its_count_once_answered(
        factory: Factory, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    iid, version, _first = _started(factory, engine)

    with factory() as s:
        conn = s.connection()
        update = compile_prepared(_update_statement(INSTANCES, ("title",)), conn.dialect)
        assert update is not None
        monkeypatch.setattr(Connection, "exec_driver_sql", _refused("a unit's write"))
        with conn.connection.driver_connection.pipeline():  # type: ignore[union-attr]
            guard = {"w_id": iid, "w_old": version, "w_new": version + 1}
            moved = update.execute(conn, [{"title": "新", **guard}])
            # The same version again: the row has moved on, so this one matches nothing.
            stale = update.execute(conn, [{"title": "舊", **guard}])
        monkeypatch.undo()
        assert (moved.rowcount, stale.rowcount) == (1, 0)
        s.commit()
    with factory() as s:
        inst = s.get(ProcessInstance, iid)
        assert inst is not None and (inst.title, inst.row_version) == ("新", version + 1)


def _trips(trace: str) -> list[list[str]]:
    """Split a libpq trace into round trips: what the client sent each time before it read an answer."""
    trips: list[list[str]] = []
    sender = ""
    for found in re.finditer(r"^([FB])\t\d+\t(\w+)\t?(.*)$", trace, re.MULTILINE):
        direction, message, rest = found.groups()  # (a statement's own line breaks start no such line)
        if direction == "F" and sender != "F":
            trips.append([])
        sender = direction
        if direction == "F" and message in ("Query", "Parse"):
            words = rest.replace('"', " ").split()
            trips[-1].append(" ".join([message, *words[:2]]))
        elif direction == "F" and message == "Bind":
            trips[-1].append(f"Bind {rest.split()[1]}")  # the prepared statement's name
    return trips


@contextmanager
def round_trips(bind: SqlEngine, folder: Path) -> Iterator[list[list[str]]]:
    """Trace the wire of the pool's one idle connection while the block runs; give its round trips after."""
    raw = bind.raw_connection()  # the connection the block's sessions will check out again (and ping)
    pgconn = raw.driver_connection.pgconn  # type: ignore[union-attr]
    raw.close()
    trips: list[list[str]] = []
    path = folder / "wire.trace"
    with path.open("w") as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield trips
        finally:
            pgconn.untrace()  # flushes what it wrote
    trips.extend(_trips(path.read_text()))


def _two_cases(factory: Factory, engine: Engine) -> tuple[int, int, str]:
    """Take one case through its first task, then start another (same connection); as `_started`."""
    _iid, _version, first = _started(factory, engine)
    with factory() as s:
        run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
    return _started(factory, engine)


def test_a_completion_is_four_round_trips_on_postgresql(factory: Factory, engine: Engine,
                                                        tmp_path: Path) -> None:
    _iid, _version, first = _two_cases(factory, engine)  # the second task's audience is kept on it now
    with factory() as s:
        bind = s.get_bind()
    with round_trips(bind, tmp_path) as trips, factory() as s:
        run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
    # BEGIN; the locking read; the rows, their history and the notification in one pipeline; COMMIT. No
    # ping at checkout (the connection was quiet), no trip of its own for the notification.
    assert len(trips) == 4, trips
    assert trips[0] == ["Query BEGIN"] and trips[-1] == ["Query COMMIT"], trips
    with factory() as s:
        told = s.scalars(select(Delivery.channel).join(Notification).where(Notification.task_id.in_(
            select(TaskRow.id).where(TaskRow.element_id == "second")))).all()
    assert sorted(told) == ["app:cs_manager", "app:cs_manager"]  # one per case


def test_a_start_is_five_round_trips_on_postgresql(factory: Factory, engine: Engine, tmp_path: Path) -> None:
    _two_cases(factory, engine)
    with factory() as s:
        bind = s.get_bind()
    with round_trips(bind, tmp_path) as trips, factory() as s:
        run_unit(s, lambda: engine.start(s, "two_step", {"unit": "A-2"}, ASSISTANT))
    # BEGIN; the newest version; the instance's insert (its id names the workflow); the pipeline; COMMIT.
    assert len(trips) == 5, trips


def test_a_failing_notification_in_the_pipeline_rolls_the_whole_unit_back(
        factory: Factory, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    iid, version, first = _two_cases(factory, engine)
    with factory() as s:
        notes_before = s.scalar(select(func.count()).select_from(Notification))
        history_before = s.scalar(select(func.count()).select_from(HistoryEvent))
    real = outbox._note  # noqa: SLF001

    def too_long(ev: Any) -> dict[str, Any]:
        return {**real(ev), "path": "x" * 5000}  # longer than the column: refused by the database

    monkeypatch.setattr(outbox, "_note", too_long)
    with factory() as s:
        with pytest.raises(exc.DBAPIError):  # SQLAlchemy's error (DataError), as any other statement's
            run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
        assert not s.in_transaction()
    monkeypatch.undo()
    with factory() as s:
        assert s.scalar(select(ProcessInstance.row_version).where(ProcessInstance.id == iid)) == version
        assert [t.element_id for t in open_tasks(s, iid)] == ["first"]
        assert s.scalar(select(func.count()).select_from(HistoryEvent)) == history_before
        assert s.scalar(select(func.count()).select_from(Notification)) == notes_before


def test_a_kept_audience_changed_by_someone_else_is_read_again_before_the_unit_commits(
        factory: Factory, engine: Engine) -> None:
    _iid, _version, first = _two_cases(factory, engine)  # the managers' audience is kept, at its token
    with factory() as s:  # another connection: the token changes, the kept audience does not
        add_user(s, "cs_manager_b", "cs_manager")
        s.commit()
    with factory() as s:
        run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
    with factory() as s:
        newest = s.scalar(select(func.max(Notification.id)))
        told = s.scalars(select(Delivery.channel).where(Delivery.notification_id == newest)).all()
        notes = s.scalar(select(func.count()).select_from(Notification).where(Notification.task_id.in_(
            select(TaskRow.id).where(TaskRow.element_id == "second"))))
    assert sorted(told) == ["app:cs_manager", "app:cs_manager_b"]
    assert notes == 2  # one per case: the queued insert that found the token changed wrote nothing


def test_a_connection_the_server_ended_is_replaced_at_checkout(factory: Factory, engine: Engine) -> None:
    with factory() as s:
        pid = s.scalar(text("SELECT pg_backend_pid()"))
        bind = s.get_bind()
    raw = bind.raw_connection()
    sock = raw.driver_connection.pgconn.socket  # type: ignore[union-attr]
    raw.close()
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()
    deadline = time.monotonic() + 10
    while not sockets.select([sock], [], [], 0.05)[0] and time.monotonic() < deadline:
        pass  # the server's goodbye reaches the idle connection's socket
    with factory() as s:  # no error: the pool saw it and connected anew
        assert s.scalar(text("SELECT pg_backend_pid()")) != pid
    _started(factory, engine)

