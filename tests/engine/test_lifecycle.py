"""Deploy, start, claim, complete, administer: the engine façade end to end on SQLite."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.errors import Conflict, Forbidden, InvalidBpmn, InvalidData, NotFound, ProcessFailure
from engine.forms.coercion import FormSchema
from engine.forms.model import FormDef
from engine.runtime import Actor, Engine
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, TaskRow
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0


def two_step(key: str = "two_step", title: str = "first") -> str:
    """Return a process: start form → first (cs_assistant) → second (cs_manager, not starter) → end."""
    p = Process(key, starters="cs_assistant")
    p.start(fields=[field_xml("unit", required=True)])
    p.user("first", "cs_assistant", [field_xml("note"), field_xml("ok", "boolean", required=True)],
           name=title)
    p.user("second", "cs_manager", [field_xml("approved", "boolean", required=True)],
           separation="<pf:notStarter/>")
    p.end("end", outcome="closed")
    p.chain("start", "first", "second", "end")
    return p.xml()


def open_tasks(session: Session, instance_id: int) -> list[TaskRow]:
    """Return an instance's open task rows."""
    return list(session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                      TaskRow.status == "open")))


def kinds(session: Session, instance_id: int) -> list[str]:
    """Return the history kinds of an instance in order."""
    return list(session.scalars(select(HistoryEvent.kind).where(HistoryEvent.instance_id == instance_id)
                                .order_by(HistoryEvent.id)))


def test_deploy_stores_a_version_only_when_the_content_changes(session: Session, engine: Engine) -> None:
    first = engine.deploy(session, two_step(), filename="a.bpmn")
    again = engine.deploy(session, two_step(), filename="a.bpmn")
    changed = engine.deploy(session, two_step(title="renamed"), filename="a.bpmn")
    session.commit()
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created) == (1, False)
    assert (changed.version, changed.created) == (2, True)
    assert session.scalar(select(func.count()).select_from(ProcessVersion)) == 2


def test_an_older_versions_file_deployed_again_becomes_the_newest_version(session: Session,
                                                                         engine: Engine) -> None:
    engine.deploy(session, two_step(), filename="a.bpmn")
    engine.deploy(session, two_step(title="a mistake"), filename="a.bpmn")
    taken_back = engine.deploy(session, two_step(), filename="a.bpmn")
    again = engine.deploy(session, two_step(), filename="a.bpmn")
    session.commit()
    assert (taken_back.version, taken_back.created) == (3, True)
    assert (again.version, again.created, again.version_id) == (3, False, taken_back.version_id)
    newest = session.scalars(select(ProcessVersion).order_by(ProcessVersion.version.desc())).first()
    assert newest is not None and newest.model["tasks"]["first"]["title_zh"] == "first"


def test_start_projects_the_first_task_into_the_inbox(session: Session, engine: Engine,
                                                      people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1201"}, people["cs_assistant"])
    session.commit()
    [row] = open_tasks(session, inst.id)
    assert (row.element_id, row.role, row.assignee) == ("first", "cs_assistant", None)
    assert inst.status == "running" and inst.unit == "A-1201"
    assert inst.data["initiator"] == "cs_assistant"
    assert kinds(session, inst.id)[:2] == ["started", "event"]


def test_complete_runs_to_the_end_with_outcome_and_history(session: Session, engine: Engine,
                                                          people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    [first] = open_tasks(session, inst.id)
    engine.complete(session, first.id, {"ok": True, "note": "done"}, people["cs_assistant2"])
    [second] = open_tasks(session, inst.id)
    engine.complete(session, second.id, {"approved": "true"}, people["cs_manager"])
    session.commit()
    assert inst.status == "completed" and inst.outcome == "closed"
    assert inst.data["approved"] is True and inst.data["performed_by"] == {
        "first": "cs_assistant2", "second": "cs_manager"}
    assert "task_completed" in kinds(session, inst.id) and kinds(session, inst.id)[-1] == "completed"
    assert inst.next_wakeup_at is None


def test_invalid_form_data_is_refused_per_field_and_changes_nothing(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A-1"}, people["cs_assistant"])
    session.commit()
    [first] = open_tasks(session, inst.id)
    before = (inst.state, len(kinds(session, inst.id)))
    with pytest.raises(InvalidData) as err:
        engine.complete(session, first.id, {"ok": "maybe", "bogus": 1}, people["cs_assistant"])
    session.rollback()
    assert set(err.value.fields) == {"ok", "bogus"}
    session.refresh(inst)
    assert (inst.state, len(kinds(session, inst.id))) == before
    assert open_tasks(session, inst.id)[0].status == "open"


def test_start_form_is_validated(session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    with pytest.raises(InvalidData) as err:
        engine.start(session, "two_step", {}, people["cs_assistant"])
    assert "unit" in err.value.fields


def test_forms_are_read_when_the_process_is_compiled_not_per_submission(
        session: Session, engine: Engine, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    engine.deploy(session, two_step())
    built: list[object] = []
    real = FormSchema.__init__

    def counting(self: FormSchema, form: FormDef, *rest: Any) -> None:
        built.append(form)
        real(self, form, *rest)

    monkeypatch.setattr(FormSchema, "__init__", counting)
    inst = engine.start(session, "two_step", {"unit": "A"}, people["cs_assistant"])
    engine.complete(session, open_tasks(session, inst.id)[0].id, {"ok": True}, people["cs_assistant"])
    with pytest.raises(InvalidData) as err:
        engine.complete(session, open_tasks(session, inst.id)[0].id, {}, people["cs_manager"])
    assert set(err.value.fields) == {"approved"} and built == []


def test_only_declared_starters_may_start(session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    with pytest.raises(Forbidden):
        engine.start(session, "two_step", {"unit": "A"}, people["technician"])


def test_unknown_process_and_task_are_not_found(session: Session, engine: Engine,
                                                people: dict[str, Actor]) -> None:
    with pytest.raises(NotFound):
        engine.start(session, "nope", {}, people["cs_assistant"])
    with pytest.raises(NotFound):
        engine.complete(session, "00000000-0000-0000-0000-000000000000", {}, people["cs_assistant"])


def test_the_starter_may_not_do_a_not_starter_task(session: Session, engine: Engine) -> None:
    from tests.conftest import add_user

    both = add_user(session, "both", "cs_assistant", "cs_manager")
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A"}, both)
    [first] = open_tasks(session, inst.id)
    engine.complete(session, first.id, {"ok": True}, both)
    [second] = open_tasks(session, inst.id)
    with pytest.raises(Forbidden, match="started this case"):
        engine.complete(session, second.id, {"approved": True}, both)
    with pytest.raises(Forbidden):
        engine.claim(session, second.id, both)


def test_wrong_role_is_forbidden_and_completed_task_conflicts(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A"}, people["cs_assistant"])
    [first] = open_tasks(session, inst.id)
    with pytest.raises(Forbidden):
        engine.complete(session, first.id, {"ok": True}, people["technician"])
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant"])
    with pytest.raises(Conflict):
        engine.complete(session, first.id, {"ok": True}, people["cs_assistant"])


def test_claim_release_and_reassign(session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A"}, people["cs_assistant"])
    [first] = open_tasks(session, inst.id)
    engine.claim(session, first.id, people["cs_assistant"])
    with pytest.raises(Conflict):
        engine.claim(session, first.id, people["cs_assistant2"])
    with pytest.raises(Forbidden):
        engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
    engine.release(session, first.id, people["cs_assistant"])
    assert first.assignee is None
    with pytest.raises(Forbidden):
        engine.reassign(session, first.id, "cs_assistant2", people["technician"])
    with pytest.raises(InvalidData):
        engine.reassign(session, first.id, "technician", people["admin"])
    engine.reassign(session, first.id, "cs_assistant2", people["admin"])
    with pytest.raises(Forbidden):  # now it is cs_assistant2's: only they (or an admin) hand it on
        engine.reassign(session, first.id, "cs_assistant", people["cs_assistant"])
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant2"])
    assert [k for k in kinds(session, inst.id) if k.startswith("task_")] == [
        "task_ready", "task_claimed", "task_released", "task_reassigned", "task_completed", "task_ready"]


def test_holders_delegate_role_members_pass_on_and_dispatchers_redispatch(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A"}, people["cs_assistant"])
    [first] = open_tasks(session, inst.id)
    engine.reassign(session, first.id, "cs_assistant2", people["cs_assistant"])  # unclaimed: pass on
    assert first.assignee == "cs_assistant2"
    engine.reassign(session, first.id, "cs_assistant", people["cs_assistant2"])  # holder: delegate
    assert first.assignee == "cs_assistant"
    with pytest.raises(Forbidden):  # a dispatcher of other crews may not
        engine.reassign(session, first.id, "cs_assistant2", people["engineering_dispatcher"])
    with pytest.raises(Forbidden):
        engine.release(session, first.id, people["engineering_dispatcher"])


def test_suspend_blocks_work_until_resumed_and_terminate_cancels_tasks(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A"}, people["cs_assistant"])
    [first] = open_tasks(session, inst.id)
    with pytest.raises(Forbidden):
        engine.suspend(session, inst.id, people["cs_assistant"])
    engine.suspend(session, inst.id, people["admin"], reason="customer away")
    with pytest.raises(Conflict):
        engine.complete(session, first.id, {"ok": True}, people["cs_assistant"])
    engine.resume(session, inst.id, people["admin"])
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant"])
    engine.terminate(session, inst.id, people["admin"], reason="duplicate")
    assert inst.status == "terminated" and open_tasks(session, inst.id) == []
    with pytest.raises(Conflict):
        engine.terminate(session, inst.id, people["admin"])


def test_running_instances_stay_on_their_version(session: Session, engine: Engine,
                                                 people: dict[str, Actor]) -> None:
    engine.deploy(session, two_step(title="old title"))
    old = engine.start(session, "two_step", {"unit": "A"}, people["cs_assistant"])
    engine.deploy(session, two_step(title="new title"))
    new = engine.start(session, "two_step", {"unit": "B"}, people["cs_assistant"])
    session.commit()
    assert old.version_id != new.version_id
    assert open_tasks(session, old.id)[0].title_zh == "old title"
    assert open_tasks(session, new.id)[0].title_zh == "new title"
    [first] = open_tasks(session, old.id)
    engine.complete(session, first.id, {"ok": True}, people["cs_assistant"])
    [second] = open_tasks(session, old.id)
    engine.complete(session, second.id, {"approved": False}, people["cs_manager"])
    assert old.status == "completed"


def test_a_broken_file_is_refused_whole_and_the_live_version_stays(session: Session, engine: Engine) -> None:
    engine.deploy(session, two_step())
    session.commit()
    broken = two_step(title="x").replace('name="cs_manager"', 'name="nobody"').replace(
        "<pf:form>", "<pf:form><pf:field name='bad name' type='weird'/>", 1)
    with pytest.raises(InvalidBpmn) as err:
        engine.deploy(session, broken)
    session.rollback()
    text = " | ".join(str(p) for p in err.value.problems)
    assert "nobody" in text and "start: " in text and "second: " in text
    assert len(err.value.problems) >= 3
    assert session.scalar(select(func.count()).select_from(ProcessVersion)) == 1


def test_assignee_expression_names_the_user_and_must_hold_the_role(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    p = Process("assign")
    p.start()
    p.user("dispatch", "engineering_dispatcher", [field_xml("technician", "user", required=True,
                                                            role="technician")])
    p.user("repair", "technician", [field_xml("fixed", "boolean")], assignee="technician")
    p.end("end")
    p.chain("start", "dispatch", "repair", "end")
    engine.deploy(session, p.xml())
    inst = engine.start(session, "assign", {}, people["cs_assistant"])
    [dispatch] = open_tasks(session, inst.id)
    with pytest.raises(InvalidData):
        engine.complete(session, dispatch.id, {"technician": "cs_manager"}, people["engineering_dispatcher"])
    engine.complete(session, dispatch.id, {"technician": "technician2"}, people["engineering_dispatcher"])
    [repair] = open_tasks(session, inst.id)
    assert repair.assignee == "technician2" and repair.assigned_by_process
    with pytest.raises(Forbidden):
        engine.complete(session, repair.id, {"fixed": True}, people["technician"])
    with pytest.raises(Conflict):
        engine.release(session, repair.id, people["technician2"])
    engine.complete(session, repair.id, {"fixed": True}, people["technician2"])
    assert inst.status == "completed"


def approve_then_check() -> str:
    """Return a process whose `check` may not be done by whoever did `approve`."""
    p = Process("sod")
    p.start()
    p.user("approve", "cs_foreman", [])
    p.user("check", "cs_supervisor", [], separation='<pf:notPerformerOf task="approve"/>')
    p.end("end")
    p.chain("start", "approve", "check", "end")
    return p.xml()


def test_not_performer_of_blocks_the_same_person(session: Session, engine: Engine,
                                                 people: dict[str, Actor]) -> None:
    from tests.conftest import add_user

    dual = add_user(session, "dual", "cs_foreman", "cs_supervisor")
    engine.deploy(session, approve_then_check())
    inst = engine.start(session, "sod", {}, people["cs_assistant"])
    [approve] = open_tasks(session, inst.id)
    engine.complete(session, approve.id, {}, dual)
    [check] = open_tasks(session, inst.id)
    with pytest.raises(Forbidden, match="approve"):
        engine.complete(session, check.id, {}, dual)
    engine.complete(session, check.id, {}, people["cs_supervisor"])


def test_reassigning_to_someone_separation_of_duties_forbids_is_refused(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    from tests.conftest import add_user

    both = add_user(session, "both", "cs_assistant", "cs_manager")
    dual = add_user(session, "dual", "cs_foreman", "cs_supervisor")
    engine.deploy(session, two_step())
    inst = engine.start(session, "two_step", {"unit": "A"}, both)
    [first] = open_tasks(session, inst.id)
    engine.complete(session, first.id, {"ok": True}, both)
    [second] = open_tasks(session, inst.id)
    with pytest.raises(InvalidData) as refused:
        engine.reassign(session, second.id, "both", people["admin"])
    reason = str(refused.value.fields["assignee"])
    assert "separation of duties" in reason and "started this case" in reason
    engine.deploy(session, approve_then_check())
    sod = engine.start(session, "sod", {}, people["cs_assistant"])
    [approve] = open_tasks(session, sod.id)
    engine.complete(session, approve.id, {}, dual)
    [check] = open_tasks(session, sod.id)
    with pytest.raises(InvalidData, match="assignee refused") as refused:
        engine.reassign(session, check.id, "dual", people["admin"])
    assert "whoever did approve" in str(refused.value.fields)
    assert check.assignee is None
    engine.reassign(session, check.id, "cs_supervisor", people["admin"])  # anyone else is fine


def test_failing_script_puts_the_instance_in_error_and_retry_resumes(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    from department import services

    p = Process("hazardous_goods_issuance")  # the one process bound to ledger_issue
    p.start(fields=[field_xml("qty", "number", required=True)])
    p.script("take", "balance = ledger_issue('alcohol', qty)")
    p.user("done", "cs_foreman", [])
    p.end("end")
    p.chain("start", "take", "done", "end")
    engine.deploy(session, p.xml())
    with pytest.raises(ProcessFailure) as err:
        engine.start(session, "hazardous_goods_issuance", {"qty": 5}, people["cs_assistant"])
    session.commit()
    inst = session.scalars(select(ProcessInstance)).one()
    assert inst.status == "error" and inst.error["element_id"] == "take"
    assert "insufficient stock" in err.value.message
    assert services.ledger_lines(session) == []
    services.stock_in(session, "alcohol", 10, "delivery", "cs_foreman", T0)
    engine.retry(session, inst.id, people["admin"])
    session.commit()
    assert inst.status == "running" and inst.data["balance"] == 5
    assert [ln.kind for ln in services.ledger_lines(session)] == ["stock_in", "issue"]
    assert "error" in kinds(session, inst.id) and "retried" in kinds(session, inst.id)


def test_runaway_automatic_loop_stops_with_a_clear_error(session: Session, engine: Engine,
                                                          people: dict[str, Actor]) -> None:
    p = Process("spin")
    p.start()
    p.script("init", "n = 0")
    p.script("inc", "n = n + 1")
    p.xor("g", default="back")
    p.end("end")
    p.chain("start", "init", "inc")
    p.flow("inc", "g")
    p.flow("g", "end", "n < 0")
    p.flow("g", "inc", fid="back")
    engine.deploy(session, p.xml())
    with pytest.raises(ProcessFailure, match=r"loops|longer"):
        engine.start(session, "spin", {}, people["cs_assistant"])


def test_deadline_timer_escalates_without_stopping_the_work(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    p = Process("deadline")
    p.start()
    p.user("arrive", "technician", [])
    p.user("follow_up", "engineering_dispatcher", [])
    p.timer("late", "arrive", duration="PT15M")
    p.end("end", outcome="closed")
    p.end("fu_end")
    p.chain("start", "arrive", "end")
    p.chain("late", "follow_up", "fu_end")
    engine.deploy(session, p.xml())
    inst = engine.start(session, "deadline", {}, people["cs_assistant"])
    session.commit()
    [arrive] = open_tasks(session, inst.id)
    assert arrive.due_at == T0 + timedelta(minutes=15)
    assert inst.next_wakeup_at == T0 + timedelta(minutes=15)
    assert engine.fire_timers(session, inst.id, now=T0 + timedelta(minutes=14)) is False
    assert engine.fire_timers(session, inst.id, now=T0 + timedelta(minutes=15, seconds=1)) is True
    session.commit()
    rows = {r.element_id: r for r in open_tasks(session, inst.id)}
    assert set(rows) == {"arrive", "follow_up"} and rows["arrive"].overdue
    assert {"timer_fired", "escalation"} <= set(kinds(session, inst.id))
    assert inst.next_wakeup_at is None
    engine.complete(session, rows["arrive"].id, {}, people["technician"],
                    now=T0 + timedelta(minutes=20))
    engine.complete(session, rows["follow_up"].id, {}, people["engineering_dispatcher"],
                    now=T0 + timedelta(minutes=21))
    assert inst.status == "completed" and inst.outcome == "closed"
