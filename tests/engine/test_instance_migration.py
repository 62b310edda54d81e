"""Moving running cases between versions: dry run verdicts, real moves, refusals with reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Forbidden, InvalidData
from engine.instance_migration import MigrationRequest, migrate_instances
from engine.integrity import check_all
from engine.runtime import Actor, Engine
from engine.store.models import HistoryEvent, ProcessInstance, TaskRow
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0


def version_1() -> str:
    """Return v1: check (cs_assistant, 2-day deadline) → approve (cs_manager) → end."""
    p = Process("mig")
    p.start(fields=[field_xml("unit")])
    p.user("check", "cs_assistant", [field_xml("note")])
    p.timer("check_due", "check", duration="P2D")
    p.user("approve", "cs_manager", [field_xml("ok", "boolean")])
    p.end("end")
    p.chain("start", "check", "approve", "end")
    return p.xml()


def version_2(check_id: str = "check") -> str:
    """Return v2: the check step (maybe renamed), a new review step, approve, end."""
    p = Process("mig")
    p.start(fields=[field_xml("unit")])
    p.user(check_id, "cs_assistant", [field_xml("note")], name="检查（新）")
    p.timer("check_due", check_id, duration="P2D")
    p.user("review", "cs_foreman", [field_xml("seen", "boolean")])
    p.user("approve", "cs_manager", [field_xml("ok", "boolean")])
    p.end("end")
    p.chain("start", check_id, "review", "approve", "end")
    return p.xml()


def open_row(session: Session, instance_id: int) -> TaskRow:
    """Return the one open task row of a case."""
    [row] = session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                  TaskRow.status == "open"))
    return row


def request(**kw: object) -> MigrationRequest:
    """Return a v1 → v2 request of the test process."""
    return MigrationRequest(**{"process_key": "mig", "from_version": 1, "to_version": 2, **kw})  # type: ignore[arg-type]


@pytest.fixture
def started(session: Session, engine: Engine, people: dict[str, Actor]) -> list[int]:
    """Deploy v1, start two cases, claim the first one's task (its assignee must survive)."""
    engine.deploy(session, version_1())
    a = engine.start(session, "mig", {"unit": "A-1"}, people["cs_assistant"])
    b = engine.start(session, "mig", {"unit": "B-2"}, people["cs_assistant"])
    session.commit()
    engine.claim(session, open_row(session, a.id).id, people["cs_assistant2"])
    session.commit()
    return [a.id, b.id]


def test_migration_moves_each_case_keeping_task_ids_assignees_and_deadlines(
        session: Session, engine: Engine, people: dict[str, Actor], started: list[int]) -> None:
    engine.deploy(session, version_2())
    session.commit()
    before = {i: open_row(session, i) for i in started}
    kept = {i: (r.id, r.assignee, r.due_at) for i, r in before.items()}
    report = migrate_instances(session, request(), people["admin"], dry_run=False, now=T0)
    assert (report.moved, report.refused) == (2, 0)
    for instance_id in started:
        row = open_row(session, instance_id)
        assert (row.id, row.assignee, row.due_at) == kept[instance_id]
        assert row.title_zh == "检查（新）"
        inst = session.get(ProcessInstance, instance_id)
        assert inst is not None and inst.next_wakeup_at == kept[instance_id][2]
        [event] = session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == instance_id,
                                                             HistoryEvent.kind == "migrated"))
        assert event.details == {"from_version": 1, "to_version": 2,
                                 "moves": {"check": "check", "check_due": "check_due"}}
    assert check_all(session) == []  # state, inbox rows, history and wake-ups agree after the move
    # The moved case follows the new version: the review step now comes after the check.
    a = started[0]
    engine.complete(session, open_row(session, a).id, {"note": "fine"}, people["cs_assistant2"])
    session.commit()
    assert open_row(session, a).element_id == "review"
    assert check_all(session) == []


def test_migration_keeps_the_deadline_timer_firing_after_the_move(
        session: Session, engine: Engine, people: dict[str, Actor], started: list[int]) -> None:
    engine.deploy(session, version_2())
    session.commit()
    migrate_instances(session, request(instance_ids=[started[1]]), people["admin"], dry_run=False, now=T0)
    inst = session.get(ProcessInstance, started[1])
    assert inst is not None and inst.next_wakeup_at is not None
    assert engine.fire_timers(session, started[1], inst.next_wakeup_at + timedelta(minutes=1))
    session.commit()
    row = open_row(session, started[1])
    assert (row.element_id, row.overdue) == ("check", True)


def test_dry_run_refuses_a_renamed_waiting_element_with_the_reason_and_changes_nothing(
        session: Session, engine: Engine, people: dict[str, Actor], started: list[int]) -> None:
    engine.deploy(session, version_2(check_id="inspect"))
    session.commit()
    report = migrate_instances(session, request(), people["admin"], dry_run=True, now=T0)
    assert [o.can_move for o in report.outcomes] == [False, False]
    reason = report.outcomes[0].reasons[0]
    assert reason["element_id"] == "check"
    assert "'check'" in reason["message"] and "map it" in reason["message"]
    inst = session.get(ProcessInstance, started[0])
    assert inst is not None and inst.version_id == 1


def test_a_hand_made_mapping_moves_a_renamed_waiting_element(
        session: Session, engine: Engine, people: dict[str, Actor], started: list[int]) -> None:
    engine.deploy(session, version_2(check_id="inspect"))
    session.commit()
    report = migrate_instances(session, request(mapping={"check": "inspect"}), people["admin"],
                               dry_run=False, now=T0)
    assert report.moved == 2
    assert open_row(session, started[0]).element_id == "inspect"
    assert report.outcomes[0].moves == {"check": "inspect", "check_due": "check_due"}
    engine.complete(session, open_row(session, started[0]).id, {}, people["cs_assistant2"])
    session.commit()
    assert open_row(session, started[0]).element_id == "review"


def test_a_finished_case_is_refused_and_named_in_the_report(
        session: Session, engine: Engine, people: dict[str, Actor], started: list[int]) -> None:
    engine.terminate(session, started[1], people["admin"], "duplicate")
    engine.deploy(session, version_2())
    session.commit()
    report = migrate_instances(session, request(instance_ids=started), people["admin"], dry_run=False,
                               now=T0)
    assert [(o.instance_id, o.moved) for o in report.outcomes] == [(started[0], True), (started[1], False)]
    assert report.outcomes[1].reasons[0]["message"] == f"instance {started[1]} is terminated"


def test_a_mapping_naming_an_unknown_element_is_refused_naming_the_field(
        session: Session, engine: Engine, people: dict[str, Actor], started: list[int]) -> None:
    engine.deploy(session, version_2())
    session.commit()
    with pytest.raises(InvalidData) as err:
        migrate_instances(session, request(mapping={"check": "nowhere"}), people["admin"], dry_run=True)
    assert "mapping.check" in err.value.fields


def test_only_admins_and_process_owners_migrate(session: Session, engine: Engine,
                                                people: dict[str, Actor], started: list[int]) -> None:
    engine.deploy(session, version_2())
    session.commit()
    with pytest.raises(Forbidden):
        migrate_instances(session, request(), people["cs_assistant"], dry_run=True)
