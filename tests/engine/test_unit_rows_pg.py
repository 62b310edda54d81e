"""The unit's writes on PostgreSQL: one pipeline, its version check and its errors as on any other path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, exc, func, select, text
from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.errors import Conflict
from engine.notify.models import Notification
from engine.runtime import Actor, Engine
from engine.store import history
from engine.store.db import make_session_factory
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from engine.store.unit_of_work import run_unit
from tests.conftest import T0, add_user
from tests.engine.test_lifecycle import open_tasks, two_step
from tests.engine.test_statements_per_unit import verbs
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
        piped.append((verbs([statement])[0], bool(status)))

    with factory() as s:
        event.listen(s.get_bind(), "before_cursor_execute", note)
        try:
            run_unit(s, lambda: engine.complete(s, first, {"ok": True}, ASSISTANT2))
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", note)
        [second] = open_tasks(s, iid)
        assert second.element_id == "second"
        assert s.scalar(select(ProcessInstance.row_version).where(ProcessInstance.id == iid)) == _version + 1
    writes = {"UPDATE process_instances", "UPDATE tasks", "INSERT tasks", "INSERT history"}
    assert {verb for verb, in_pipeline in piped if in_pipeline} == writes, piped
    # The reads around them (the lock, the audience) are answered on their own.
    assert not any(in_pipeline for verb, in_pipeline in piped if verb.startswith("SELECT"))


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
