"""The locking read past the ORM: its objects are the ones an ORM query would have given the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from engine.errors import Conflict
from engine.runtime import SYSTEM, Actor, Engine
from engine.store.locking import lock_by_task, lock_instance
from engine.store.models import ProcessInstance, ProcessVersion, TaskRow
from engine.store.unit_rows import write_rows
from tests.engine.test_lifecycle import two_step


def _started(session: Session, engine: Engine, people: dict[str, Actor]) -> tuple[int, str]:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    [task] = engine.open_tasks(session, inst.id)
    return inst.id, task.id


def _locked_afresh(session: Session, engine: Engine, people: dict[str, Actor]
                   ) -> tuple[int, ProcessInstance, TaskRow]:
    """Start a case, empty the session, and lock the case by its task: (instance id, instance, task row)."""
    iid, tid = _started(session, engine, people)
    session.expunge_all()
    found = lock_by_task(session, tid)
    assert found is not None
    [row] = found.open_rows
    return iid, found.instance, row


def _attributes(obj: Any) -> dict[str, Any]:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}


def _loaded_elsewhere(factory: Callable[[], Session], model: type, key: Any) -> dict[str, Any]:
    """Return an object's attributes as an ORM query in another session reads them."""
    with factory() as other:
        return _attributes(other.get(model, key))


def _as_if_queried(session: Session, obj: Any) -> None:
    state = inspect(obj)
    assert state.persistent and state.session is session
    assert not state.modified and not state.expired_attributes and not state.unloaded
    assert session.get(type(obj), state.identity) is obj  # in the identity map: no query


def test_the_locking_read_gives_clean_persistent_objects_equal_to_an_orm_query(
        session_factory: Callable[[], Session], session: Session, engine: Engine,
        people: dict[str, Actor]) -> None:
    iid, tid = _started(session, engine, people)
    session.expunge_all()
    expected = (_loaded_elsewhere(session_factory, ProcessInstance, iid),
                _loaded_elsewhere(session_factory, TaskRow, tid))
    found = lock_by_task(session, tid)
    assert found is not None
    [row] = found.open_rows
    for obj, attributes in zip((found.instance, row), expected, strict=True):
        _as_if_queried(session, obj)
        assert _attributes(obj) == attributes
    version = session.get(ProcessVersion, found.instance.version_id)
    assert version is not None
    assert (found.content_hash, found.version) == (version.content_hash, version.version)
    assert not session.dirty and not session.new
    assert lock_by_task(session, "no-such-task") is None


def test_locking_an_instance_by_id_gives_the_object_an_orm_query_would(
        session_factory: Callable[[], Session], session: Session, engine: Engine,
        people: dict[str, Actor]) -> None:
    iid, _tid = _started(session, engine, people)
    session.expunge_all()
    expected = _loaded_elsewhere(session_factory, ProcessInstance, iid)
    inst = lock_instance(session, iid)
    _as_if_queried(session, inst)
    assert _attributes(inst) == expected
    assert lock_instance(session, iid + 1000) is None


def test_objects_the_session_holds_are_refreshed_in_place_after_their_own_changes_are_flushed(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    iid, tid = _started(session, engine, people)
    inst, task = session.get(ProcessInstance, iid), session.get(TaskRow, tid)
    assert inst is not None and task is not None
    version = inst.row_version
    # Changes the objects have not seen, made on the database behind the session's back...
    session.connection().execute(text("UPDATE process_instances SET unit = 'B-2' WHERE id = :i"), {"i": iid})
    session.connection().execute(text("UPDATE tasks SET title_en = 'Renamed' WHERE id = :i"), {"i": tid})
    # ...and the session's own, not flushed yet: written first, as the ORM query's autoflush did.
    inst.title, task.assignee = "retitled", "cs_assistant2"
    found = lock_by_task(session, tid)
    assert found is not None and found.instance is inst and found.open_rows == [task]
    assert (inst.unit, inst.title, inst.row_version) == ("B-2", "retitled", version + 1)
    assert (task.title_en, task.assignee) == ("Renamed", "cs_assistant2")
    _as_if_queried(session, inst)
    _as_if_queried(session, task)
    session.connection().execute(text("UPDATE process_instances SET unit = 'C-3' WHERE id = :i"), {"i": iid})
    assert lock_instance(session, iid) is inst and inst.unit == "C-3" and not session.dirty


def test_a_second_command_in_the_same_session_sees_what_another_session_committed(
        session_factory: Callable[[], Session], session: Session, engine: Engine,
        people: dict[str, Actor]) -> None:
    iid, tid = _started(session, engine, people)
    engine.complete(session, tid, {"ok": True}, people["cs_assistant2"])
    session.commit()
    [second] = engine.open_tasks(session, iid)  # the session holds the instance and its open task
    with session_factory() as other:
        engine.suspend(other, iid, SYSTEM, "on hold")
        other.commit()
    with pytest.raises(Conflict, match="suspended"):
        engine.complete(session, second.id, {"approved": True}, people["cs_manager"])
    session.rollback()
    assert session.get(ProcessInstance, iid).status == "suspended"  # type: ignore[union-attr]


def test_a_rollback_expires_the_locked_objects_and_keeps_them_in_the_session(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    _iid, inst, row = _locked_afresh(session, engine, people)
    session.rollback()
    for obj in (inst, row):
        state = inspect(obj)
        assert state.persistent and obj in session and "status" in state.expired_attributes
    assert (inst.status, row.status) == ("running", "open")  # reloaded on access


def test_changes_to_the_locked_objects_are_written_by_the_units_row_writes(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    iid, inst, row = _locked_afresh(session, engine, people)
    tid, version = row.id, inst.row_version
    inst.title, row.assignee = "retitled", "cs_assistant2"
    assert set(session.dirty) == {inst, row}
    assert write_rows(session)
    assert not session.dirty and inst.row_version == version + 1
    session.commit()
    stored = session.execute(text("SELECT title, row_version FROM process_instances WHERE id = :i"),
                             {"i": iid}).one()
    assigned = session.execute(text("SELECT assignee FROM tasks WHERE id = :i"), {"i": tid}).scalar()
    assert (tuple(stored), assigned) == (("retitled", version + 1), "cs_assistant2")
