"""How many SQL statements a unit of work sends: the Core-level unit of work's promise, counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.runtime import Actor, Engine
from engine.store import history
from engine.store.models import HistoryEvent
from tests.engine.test_lifecycle import open_tasks, two_step


@contextmanager
def statements(source: Session | SqlEngine, parameters: list[Any] | None = None) -> Iterator[list[str]]:
    """Collect the SQL statements a session's or engine's connections send (transaction control left out).

    With `parameters`, each statement's parameters are appended to it, in the same order.
    """
    seen: list[str] = []
    bind = source.get_bind() if isinstance(source, Session) else source

    def note(_conn: Any, _cursor: Any, statement: str, sent: Any, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            seen.append(" ".join(statement.split()))
            if parameters is not None:
                parameters.append(sent)

    event.listen(bind, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", note)


def verbs(sql: list[str]) -> list[str]:
    """Return each statement's verb and table, e.g. 'INSERT history'."""
    out = []
    for text in sql:
        words = text.split()
        verb = words[0].upper()
        table = words[2] if verb in ("INSERT", "DELETE") else words[1] if verb == "UPDATE" else \
            words[words.index("FROM") + 1] if "FROM" in words else "-"
        out.append(f"{verb} {table}")
    return out


def test_completing_a_task_takes_five_statements(session: Session, engine: Engine,
                                                  people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    [first] = open_tasks(session, inst.id)
    session.expunge_all()
    with statements(session) as sql:
        engine.complete(session, first.id, {"ok": True, "note": "done"}, people["cs_assistant2"])
        session.commit()
    # Lock + read (instance, version hash, open tasks); instance update guarded by row_version;
    # task updates; one insert of new tasks; one multi-row history insert.
    assert sorted(verbs(sql)) == ["INSERT history", "INSERT tasks", "SELECT process_instances",
                                  "UPDATE process_instances", "UPDATE tasks"], sql
    assert "row_version" in next(s for s in sql if s.startswith("UPDATE process_instances"))
    assert [r.element_id for r in open_tasks(session, inst.id)] == ["second"]


def test_a_completion_updates_only_the_instance_columns_it_changes(session: Session, engine: Engine,
                                                                  people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    [first] = open_tasks(session, inst.id)
    with statements(session) as sql:
        engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
        session.commit()
    update = next(s for s in sql if s.startswith("UPDATE process_instances"))
    assert "state=" in update and "updated_at=" in update
    # Neither the state's format, the wake-up (no timer) nor the due time (no deadline) changed.
    assert "state_format" not in update and "next_wakeup_at" not in update and "due_at" not in update


def test_starting_reads_no_bpmn_xml_and_updates_the_instance_once(session: Session, engine: Engine,
                                                                  people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    session.commit()
    with statements(session) as sql:
        engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
        session.commit()
    assert not [s for s in sql if "bpmn_xml" in s]
    assert sorted(verbs(sql)) == ["INSERT history", "INSERT process_instances", "INSERT tasks",
                                  "SELECT process_versions", "UPDATE process_instances"], sql


def test_a_units_history_is_one_insert_and_goes_with_a_rollback(session: Session, engine: Engine,
                                                                 people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    count: Callable[[], int] = lambda: session.scalar(  # noqa: E731
        select(func.count()).select_from(HistoryEvent).where(HistoryEvent.instance_id == inst.id)) or 0
    before = count()
    history.record(session, inst.id, "suspended", inst.started_at, actor="admin")
    session.rollback()
    assert count() == before
    with statements(session) as sql:
        for kind in ("suspended", "resumed"):
            history.record(session, inst.id, kind, inst.started_at, actor="admin")
        session.commit()
    assert verbs(sql) == ["INSERT history"] and count() == before + 2


def test_the_next_open_task_comes_with_the_unit_without_a_query_and_not_after_a_rollback(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    with statements(session) as sql:
        [first] = engine.open_tasks(session, inst.id)
    assert sql == [] and first.element_id == "first"
    engine.complete(session, first.id, {"ok": True, "note": "done"}, people["cs_assistant2"])
    session.commit()
    with statements(session) as sql:
        assert [t.element_id for t in engine.open_tasks(session, inst.id)] == ["second"]
    assert sql == []
    # A unit that rolls back leaves nothing behind: the answer is read from the database again.
    [second] = engine.open_tasks(session, inst.id)
    engine.complete(session, second.id, {"approved": True}, people["cs_manager"])
    iid = inst.id
    session.rollback()
    with statements(session) as sql:
        assert [t.element_id for t in engine.open_tasks(session, iid)] == ["second"]
    assert verbs(sql) == ["SELECT tasks"]
