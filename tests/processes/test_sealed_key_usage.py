"""Scenario tests for sealed_key_usage (封存鑰匙使用審批): both paths, every refusal, the sealed-key log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import keys
from department.registers import sealed_key_records
from department.services import sealed_key_log
from engine.errors import Forbidden, InvalidData
from tests.conftest import add_user
from tests.processes.helpers import Scenario
from tests.processes.keys_helpers import seal_unit

KEY = "sealed_key_usage"
SEAL = "F-000123"


@pytest.fixture(autouse=True)
def sealed_unit(sc: Scenario) -> None:
    """Unit 15F-1501's key is in custody under seal F-000123 (moved in through key_custody)."""
    seal_unit(sc, "15F-1501", SEAL)


def application(reason: str, *, reachable: bool = False, can_attend: bool = False) -> dict[str, Any]:
    """Return a start form."""
    form = {"unit": "15F-1501", "reason": reason, "customer_reachable": reachable,
            "customer_can_attend": can_attend,
            "description": "單元內水管爆裂" if reason == "emergency" else "客戶忘帶辦公室鑰匙",
            "applicant_name": "王經理", "applicant_company": "宏達貿易"}
    if reason != "emergency":
        form["application_reference"] = "SQ-2026-0042"
    return form


def witnesses(sc: Scenario, **override: Any) -> dict[str, Any]:
    """Return the open_unit form: two assistants and a guard, opened then closed."""
    opened = sc.now + timedelta(minutes=30)
    return {"seal_number_before": SEAL,
            "assistant_1": "cs_assistant", "assistant_2": "cs_assistant2", "security_guard": "security_guard",
            "opened_at": opened.isoformat(), "closed_at": (opened + timedelta(minutes=20)).isoformat(),
            "actions_taken": "關閉總閥，清理積水", **override}


def reseal_and_archive(sc: Scenario) -> None:
    """Reseal the key and have the manager sign the archive."""
    sc.do("reseal", "cs_assistant", {"old_seal_number": SEAL, "new_seal_number": "F-000456"})
    sc.do("manager_archive", "cs_manager", {"archive_note": "記錄齊全"})


def test_emergency_with_reachable_customer_is_rejected_at_once(sc: Scenario, session: Session) -> None:
    sc.start(KEY, application("emergency", reachable=True, can_attend=True), "cs_assistant")
    assert sc.path() == []
    assert [h.element_id for h in sc.history("event") if h.message] == ["end_rejected_reachable"]
    sc.assert_ended("rejected")
    assert sealed_key_log(session) == []


def test_emergency_opening_with_gm_approval_and_three_witnesses(sc: Scenario, session: Session) -> None:
    sc.start(KEY, application("emergency"), "cs_assistant")
    assert sc.inbox("cs_manager") == ["manager_request"]
    sc.do("manager_request", "cs_manager", {"request_note": "客戶出國無法聯繫，申請動用封存鑰匙"})
    assert sc.inbox("general_manager") == ["gm_approval"]
    sc.do("gm_approval", "general_manager", {"approved": True})
    sc.do("open_unit", "cs_assistant", witnesses(sc))
    sc.do("guard_confirm", "security_guard", {"guard_confirmed": True})
    reseal_and_archive(sc)
    assert sc.path() == ["manager_request", "gm_approval", "open_unit", "guard_confirm", "reseal",
                         "manager_archive"]
    sc.assert_ended("completed")
    [record] = sealed_key_records(session)
    assert record["instance_id"] == sc.instance_id
    assert (record["unit"], record["reason"]) == ("15F-1501", "emergency")
    assert record["requested_by"] == "cs_assistant"
    assert [(a["step"], a["by"], a["approved"]) for a in record["approvals"]] == [
        ("manager_request", "cs_manager", True), ("gm_approval", "general_manager", True)]
    assert all(a["at"] == sc.now for a in record["approvals"])
    assert record["witnesses"] == ["cs_assistant", "cs_assistant2", "security_guard"]
    assert record["opened_at"] < record["closed_at"]
    assert (record["old_seal_number"], record["new_seal_number"]) == ("F-000123", "F-000456")
    assert (record["archived_by"], record["archived_at"]) == ("cs_manager", sc.now)
    assert (record["resealed_by"], record["archive_note"]) == ("cs_assistant", "記錄齊全")


def test_gm_refusal_rejects_the_emergency_use(sc: Scenario, session: Session) -> None:
    sc.start(KEY, application("emergency"), "cs_assistant")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    sc.do("gm_approval", "general_manager", {"approved": False})
    assert sc.path() == ["manager_request", "gm_approval"]
    sc.assert_ended("rejected")
    assert sealed_key_records(session) == []


@pytest.mark.parametrize(("override", "field"), [
    ({"assistant_2": "cs_assistant"}, "assistant_2"),  # the same assistant twice
    ({"security_guard": "cs_assistant2"}, "security_guard"),  # an assistant is no guard
    ({"assistant_1": "security_guard2"}, "assistant_1"),  # a guard is no assistant
    ({"assistant_2": "nobody"}, "assistant_2"),  # not a user at all
])
def test_open_unit_refuses_witnesses_that_are_not_three_distinct_right_roles(
        sc: Scenario, override: dict[str, str], field: str) -> None:
    sc.start(KEY, application("emergency"), "cs_assistant")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    sc.do("gm_approval", "general_manager", {"approved": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("open_unit", "cs_assistant", witnesses(sc, **override))
    assert set(refused.value.fields) == {field}
    assert sc.open_tasks() == ["open_unit"]
    assert "assistant_1" not in sc.data


def test_open_unit_refuses_closing_before_opening(sc: Scenario) -> None:
    sc.start(KEY, application("emergency"), "cs_assistant")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    sc.do("gm_approval", "general_manager", {"approved": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("open_unit", "cs_assistant", witnesses(sc, closed_at=sc.now.isoformat()))
    assert set(refused.value.fields) == {"closed_at"}


@pytest.mark.parametrize("reason", ["forgot_key", "lost_key"])
def test_written_application_confirmed_approved_used_and_archived(
        sc: Scenario, session: Session, reason: str) -> None:
    sc.start(KEY, application(reason), "cs_assistant")
    sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": True, "unit_head_name": "王經理"})
    sc.do("manager_approval", "cs_manager", {"approved": True})
    opened = sc.now + timedelta(minutes=10)
    sc.do("use_key", "cs_assistant2", {"seal_number_before": SEAL, "opened_at": opened.isoformat(),
                                       "closed_at": (opened + timedelta(minutes=5)).isoformat(),
                                       "used_by": "王經理"})
    sc.do("collect_stamped_application", "cs_assistant", {"company_seal_stamped": True,
                                                          "user_signature": "王經理"})
    reseal_and_archive(sc)
    assert sc.path() == ["confirm_with_unit_head", "manager_approval", "use_key",
                         "collect_stamped_application", "reseal", "manager_archive"]
    sc.assert_ended("completed")
    [record] = sealed_key_records(session)
    assert [(a["step"], a["by"], a["approved"]) for a in record["approvals"]] == [
        ("confirm_with_unit_head", "cs_assistant", True), ("manager_approval", "cs_manager", True)]
    assert (record["used_by"], record["company_seal_stamped"], record["witnesses"]) == ("王經理", True, [])


def test_unit_head_not_confirming_rejects_the_application(sc: Scenario) -> None:
    sc.start(KEY, application("lost_key"), "cs_assistant")
    with pytest.raises(InvalidData) as refused:
        sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": True})
    assert set(refused.value.fields) == {"unit_head_name"}
    sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": False})
    assert sc.path() == ["confirm_with_unit_head"]
    sc.assert_ended("rejected")


def test_manager_refusal_rejects_the_application(sc: Scenario) -> None:
    sc.start(KEY, application("forgot_key"), "cs_assistant")
    sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": True, "unit_head_name": "王經理"})
    sc.do("manager_approval", "cs_manager", {"approved": False})
    assert sc.path() == ["confirm_with_unit_head", "manager_approval"]
    sc.assert_ended("rejected")


def test_application_without_company_seal_cannot_be_filed(sc: Scenario) -> None:
    sc.start(KEY, application("forgot_key"), "cs_assistant")
    sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": True, "unit_head_name": "王經理"})
    sc.do("manager_approval", "cs_manager", {"approved": True})
    closed = sc.now + timedelta(minutes=5)
    sc.do("use_key", "cs_assistant", {"seal_number_before": SEAL, "opened_at": sc.now.isoformat(),
                                      "closed_at": closed.isoformat(), "used_by": "王"})
    with pytest.raises(InvalidData) as refused:
        sc.do("collect_stamped_application", "cs_assistant", {"company_seal_stamped": False,
                                                              "user_signature": "王"})
    assert set(refused.value.fields) == {"company_seal_stamped"}
    assert refused.value.fields["company_seal_stamped"][0].zh == "申请书须补盖公章后方可存档"
    assert sc.open_tasks() == ["collect_stamped_application"]
    assert sc.instance().status == "running"


def test_reseal_refuses_reusing_the_old_seal_number(sc: Scenario) -> None:
    sc.start(KEY, application("emergency"), "cs_assistant")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    sc.do("gm_approval", "general_manager", {"approved": True})
    sc.do("open_unit", "cs_assistant", witnesses(sc))
    sc.do("guard_confirm", "security_guard", {"guard_confirmed": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("reseal", "cs_assistant", {"old_seal_number": SEAL, "new_seal_number": SEAL})
    assert set(refused.value.fields) == {"new_seal_number"}


def test_a_manager_never_approves_their_own_application(sc: Scenario, session: Session) -> None:
    sc.people["cs_manager2"] = add_user(session, "cs_manager2", "cs_manager")
    session.commit()
    sc.start(KEY, application("forgot_key"), "cs_manager")
    sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": True, "unit_head_name": "王經理"})
    with pytest.raises(Forbidden, match="started this case"):
        sc.do("manager_approval", "cs_manager", {"approved": True})
    assert sc.task("manager_approval").assignee is None
    sc.do("manager_approval", "cs_manager2", {"approved": True})
    assert sc.performers()[-1] == ("manager_approval", "cs_manager2")


def test_a_general_manager_never_approves_their_own_request(sc: Scenario, session: Session) -> None:
    sc.people["gm_on_desk"] = add_user(session, "gm_on_desk", "general_manager", "cs_assistant")
    sc.people["gm2"] = add_user(session, "gm2", "general_manager")
    session.commit()
    sc.start(KEY, application("emergency"), "gm_on_desk")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    with pytest.raises(Forbidden):
        sc.do("gm_approval", "gm_on_desk", {"approved": True})
    sc.do("gm_approval", "gm2", {"approved": True})
    assert sc.open_tasks() == ["open_unit"]


def test_only_starters_may_apply(sc: Scenario) -> None:
    with pytest.raises(Forbidden):
        sc.start(KEY, application("forgot_key"), "security_guard")


# -- the key register (issue 13) and the emergency / written-application rules (issue 12) --------------

def emergency_opened(sc: Scenario) -> None:
    """Walk an emergency up to an approved opening."""
    sc.start(KEY, application("emergency"), "cs_assistant")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    sc.do("gm_approval", "general_manager", {"approved": True})


def test_a_unit_without_a_sealed_key_cannot_apply(sc: Scenario, session: Session) -> None:
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, {**application("emergency"), "unit": "16F-1601"}, "cs_assistant")
    assert set(refused.value.fields) == {"unit"}
    assert "没有封存钥匙" in refused.value.fields["unit"][0].zh


def test_the_seal_is_checked_against_the_register_before_opening(sc: Scenario) -> None:
    emergency_opened(sc)
    with pytest.raises(InvalidData) as refused:
        sc.do("open_unit", "cs_assistant", witnesses(sc, seal_number_before="F-999999"))
    assert set(refused.value.fields) == {"seal_number_before"}
    assert sc.open_tasks() == ["open_unit"]


def test_reseal_writes_the_new_seal_number_to_the_register(sc: Scenario, session: Session) -> None:
    emergency_opened(sc)
    sc.do("open_unit", "cs_assistant", witnesses(sc))
    sc.do("guard_confirm", "security_guard", {"guard_confirmed": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("reseal", "cs_assistant", {"old_seal_number": "F-000999", "new_seal_number": "F-000456"})
    assert set(refused.value.fields) == {"old_seal_number"}
    reseal_and_archive(sc)
    assert keys.seal_number(session, "15F-1501") == "F-000456"
    last = session.scalars(keys.history_query("15F-1501", newest_first=True)).first()
    assert last is not None
    assert (last.event, last.instance_id, last.seal_after) == ("reseal", sc.instance_id, "F-000456")
    assert keys.register_agrees(session) == []


@pytest.mark.parametrize(("reachable", "can_attend", "rejected"), [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)])
def test_emergency_is_refused_only_when_the_customer_can_be_reached_and_can_come(
        sc: Scenario, reachable: bool, can_attend: bool, rejected: bool) -> None:
    sc.start(KEY, application("emergency", reachable=reachable, can_attend=can_attend), "cs_assistant")
    if rejected:
        sc.assert_ended("rejected")
    else:
        assert sc.open_tasks() == ["manager_request"]


def test_open_unit_is_completed_by_one_of_the_two_named_assistants(sc: Scenario, session: Session) -> None:
    sc.people["cs_assistant3"] = add_user(session, "cs_assistant3", "cs_assistant")
    session.commit()
    emergency_opened(sc)
    with pytest.raises(InvalidData) as refused:
        sc.do("open_unit", "cs_assistant3", witnesses(sc))
    assert set(refused.value.fields) == {"assistant_1"}
    sc.engine.release(session, sc.task("open_unit").id, sc.actor("cs_assistant3"), now=sc.now)
    session.commit()
    sc.do("open_unit", "cs_assistant2", witnesses(sc))
    assert sc.open_tasks() == ["guard_confirm"]


def test_the_named_guard_confirms_in_a_task_of_their_own(sc: Scenario) -> None:
    emergency_opened(sc)
    sc.do("open_unit", "cs_assistant", witnesses(sc))
    assert sc.task("guard_confirm").assignee == "security_guard"
    with pytest.raises(Forbidden):
        sc.do("guard_confirm", "security_guard2", {"guard_confirmed": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("guard_confirm", "security_guard", {"guard_confirmed": False})
    assert set(refused.value.fields) == {"guard_confirmed"}
    sc.do("guard_confirm", "security_guard", {"guard_confirmed": True, "guard_note": "在場見證"})
    assert sc.open_tasks() == ["reseal"]


def test_late_gm_approval_escalates_to_the_manager(sc: Scenario) -> None:
    sc.start(KEY, application("emergency"), "cs_assistant")
    sc.do("manager_request", "cs_manager", {"request_note": "申請"})
    due = sc.due("gm_approval")
    assert due == sc.now + timedelta(hours=1)
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("gm_approval", "gm_approval_overdue")
    assert sc.inbox("cs_manager") == ["follow_up_gm_approval"]
    sc.do("follow_up_gm_approval", "cs_manager", {"follow_up_note": "已電話催總經理"})
    sc.do("gm_approval", "general_manager", {"approved": False})
    sc.assert_ended("rejected")


@pytest.mark.parametrize("reason", ["forgot_key", "lost_key"])
def test_forgot_or_lost_key_needs_the_written_application_reference(sc: Scenario, reason: str) -> None:
    form = application(reason)
    del form["application_reference"]
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, form, "cs_assistant")
    assert set(refused.value.fields) == {"application_reference"}


def test_stamped_application_not_back_in_time_is_chased(sc: Scenario, session: Session) -> None:
    sc.start(KEY, application("lost_key"), "cs_assistant")
    assert sc.data["application_reference"] == "SQ-2026-0042"
    sc.do("confirm_with_unit_head", "cs_assistant", {"unit_head_confirmed": True, "unit_head_name": "王經理"})
    sc.do("manager_approval", "cs_manager", {"approved": True})
    closed = sc.now + timedelta(minutes=5)
    sc.do("use_key", "cs_assistant", {"seal_number_before": SEAL, "opened_at": sc.now.isoformat(),
                                      "closed_at": closed.isoformat(), "used_by": "王"})
    due = sc.due("collect_stamped_application")
    # Monday 10:00 + 24 working hours (08:00–19:00) = Wednesday 12:00 Shanghai.
    assert due == sc.now + timedelta(days=2, hours=2)
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("collect_stamped_application", "stamped_application_overdue")
    assert sc.inbox("cs_supervisor") == ["chase_stamped_application"]
    sc.do("chase_stamped_application", "cs_supervisor", {"follow_up_note": "已催客戶補蓋公章"})
    sc.do("collect_stamped_application", "cs_assistant", {"company_seal_stamped": True,
                                                          "user_signature": "王"})
    reseal_and_archive(sc)
    sc.assert_ended("completed")
    [record] = sealed_key_records(session)
    assert record["unit"] == "15F-1501"
