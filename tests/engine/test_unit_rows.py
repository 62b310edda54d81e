"""The unit's own instance and task writes: what the ORM is told afterwards, and what a failure leaves."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from engine.errors import Conflict
from engine.runtime import Actor, Engine
from engine.store.models import ProcessInstance, TaskRow
from engine.store.unit_of_work import run_unit
from tests.engine.test_lifecycle import open_tasks, two_step


def _started(session: Session, engine: Engine, people: dict[str, Actor]) -> ProcessInstance:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    return inst


def test_the_rows_a_unit_wrote_are_clean_persistent_objects_matching_the_database(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    inst = _started(session, engine, people)
    [first] = engine.open_tasks(session, inst.id)
    engine.complete(session, first.id, {"ok": True, "note": "done"}, people["cs_assistant2"])
    # Nothing left for an ORM flush: the next query's autoflush must not write the rows a second time.
    assert not session.dirty and not session.new
    [second] = engine.open_tasks(session, inst.id)
    assert inspect(second).persistent and inspect(first).persistent
    stored = session.execute(text("SELECT row_version, status FROM process_instances WHERE id = :i"),
                             {"i": inst.id}).one()
    assert (stored.row_version, stored.status) == (inst.row_version, "running")
    row = session.execute(text("SELECT status, completed_by, overdue, assigned_by_process FROM tasks "
                               "WHERE id = :i"), {"i": second.id}).one()
    assert row.status == "open" and not row.overdue and not row.assigned_by_process
    # The column defaults the ORM would have applied are on the object too, without a reload.
    assert second.overdue is False and second.assigned_by_process is False
    done = session.execute(text("SELECT status, completed_by FROM tasks WHERE id = :i"),
                           {"i": first.id}).one()
    assert tuple(done) == ("completed", "cs_assistant2") == (first.status, first.completed_by)
    session.commit()
    session.expunge_all()
    assert session.get(ProcessInstance, inst.id).row_version == stored.row_version  # type: ignore[union-attr]


def test_a_unit_rolled_back_after_its_writes_leaves_no_rows_in_the_session_or_the_database(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    inst = _started(session, engine, people)
    iid, version = inst.id, inst.row_version
    [first] = engine.open_tasks(session, iid)
    engine.complete(session, first.id, {"ok": True, "note": "done"}, people["cs_assistant2"])
    [second] = engine.open_tasks(session, iid)
    session.rollback()
    assert second not in session  # as if the ORM had inserted it: gone with its transaction
    assert session.get(TaskRow, second.id) is None
    assert [r.element_id for r in open_tasks(session, iid)] == ["first"]
    assert session.get(ProcessInstance, iid).row_version == version  # type: ignore[union-attr]
    # The instance goes on from where it stood.
    engine.complete(session, first.id, {"ok": True, "note": "again"}, people["cs_assistant2"])
    session.commit()
    assert [r.element_id for r in open_tasks(session, iid)] == ["second"]


def test_an_instance_row_changed_behind_the_units_back_is_a_conflict_and_nothing_is_written(
        session: Session, engine: Engine, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _started(session, engine, people)
    iid, version = inst.id, inst.row_version
    [first] = engine.open_tasks(session, iid)
    real = Engine._advance  # noqa: SLF001 (the step just before the unit's writes)

    def meddling(self: Engine, loaded: object) -> None:
        real(self, loaded)  # type: ignore[arg-type]
        # Someone else's write slipped in between the unit's read and its write.
        session.connection().execute(text("UPDATE process_instances SET row_version = row_version + 1 "
                                          "WHERE id = :i"), {"i": iid})

    monkeypatch.setattr(Engine, "_advance", meddling)
    with pytest.raises(Conflict):
        run_unit(session, lambda: engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"]))
    monkeypatch.undo()
    session.expunge_all()
    assert session.get(ProcessInstance, iid).row_version == version  # type: ignore[union-attr]
    assert [(r.element_id, r.status) for r in open_tasks(session, iid)] == [("first", "open")]
    assert session.scalars(select(TaskRow.element_id).where(TaskRow.instance_id == iid)).all() == ["first"]


def test_a_user_added_earlier_in_the_transaction_is_seen_by_the_reads_past_the_orm(session: Session) -> None:
    from engine.store.inbox import user_roles
    from engine.store.models import User, UserRole
    from tests.conftest import T0

    user = User(username="new_tech", display_name="new_tech", password_hash="!", created_at=T0)
    user.roles = [UserRole(role="technician")]
    session.add(user)  # not flushed: the roles read goes past the ORM, and must flush it first
    roles = user_roles(session, "new_tech")
    assert roles is not None and "technician" in roles
