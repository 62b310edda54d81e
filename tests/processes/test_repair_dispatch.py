"""Scenario tests for repair_dispatch (客戶報修): every category, rework loop and deadline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from department import charge_backs
from engine.errors import Forbidden, InvalidData
from tests.processes.helpers import Scenario

KEY = "repair_dispatch"


def request(category: str, *, paid: bool = False) -> dict[str, Any]:
    """Return a start form as the front desk fills it."""
    return {"channel": "phone", "reporter_name": "陳先生", "contact_phone": "13800000000", "unit": "12F-1203",
            "description": "辦公室空調不製冷", "category": category, "paid": paid}


def callback(satisfied: bool = True) -> dict[str, Any]:
    """Return a callback form."""
    data: dict[str, Any] = {"satisfied": satisfied, "callback_method": "phone"}
    if not satisfied:
        data["comments"] = "問題仍然存在"
    return data


def dispatch(sc: Scenario, technician: str = "technician", **extra: Any) -> None:
    """Dispatch the work order to a technician."""
    sc.do("dispatch", "engineering_dispatcher", {"trade": "hvac", "technician": technician, **extra})


def ask_for_substitute(sc: Scenario) -> None:
    """Tell the responsible team to come within two hours; when it has not, write the 代維修請示."""
    sc.do("notify_responsible_team", "engineering_dispatcher", {
        "responsible_subcontractor": "甲空調公司 HT-2026-17",
        "entry_deadline": (sc.now + timedelta(hours=2)).isoformat(),
        "team_notice": "甲空調公司：A苑 8F-0802 空調 今日12:00前進場"})
    sc.advance(hours=2)
    sc.do("request_substitute_repair", "engineering_dispatcher", SUBSTITUTE_REQUEST)


SUBSTITUTE_REQUEST = {"substitute_reason": "責任班組逾期未進場", "estate": "A苑",
                      "site_address": "幸福路1號", "repair_spot": "8F-0802 客廳空調", "estimated_cost": 1200,
                      "principal_notice": "written", "problem_summary": "空調不製冷"}


def repair(sc: Scenario, technician: str = "technician", *, fixed: bool = True, **extra: Any) -> None:
    """Arrive on site and report the repair."""
    sc.do("arrive_on_site", technician)
    sc.do("repair", technician, {"result": "更換電容" if fixed else "需要配件", "fixed": fixed, **extra})


def test_consultation_is_answered_and_closed(sc: Scenario) -> None:
    sc.start(KEY, request("consultation"), "cs_assistant")
    assert sc.inbox("cs_assistant") == ["give_guidance"]
    sc.do("give_guidance", "cs_assistant", {"guidance": "告知空調遙控器使用方法"})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["give_guidance", "callback"]
    sc.assert_ended("closed")


def test_consultation_not_satisfied_goes_back_to_guidance(sc: Scenario) -> None:
    sc.start(KEY, request("consultation"), "cs_assistant")
    sc.do("give_guidance", "cs_assistant", {"guidance": "電話說明"})
    sc.do("callback", "cs_assistant", callback(satisfied=False))
    assert sc.open_tasks() == ["give_guidance"]
    sc.do("give_guidance", "cs_assistant2", {"guidance": "上門說明"})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["give_guidance", "callback", "give_guidance", "callback"]
    sc.assert_ended("closed")


def test_housekeeping_request_is_assisted_by_housekeeping_and_confirmed(sc: Scenario) -> None:
    sc.start(KEY, request("housekeeping"), "cs_assistant")
    assert sc.inbox("housekeeping") == ["assist"]
    assert sc.inbox("security_guard") == []
    with pytest.raises(Forbidden):
        sc.claim("assist", "security_guard")
    sc.do("assist", "housekeeping", {"result": "已清理"})
    assert sc.inbox("area_foreman") == ["foreman_confirm"]
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["assist", "foreman_confirm", "callback"]
    sc.assert_ended("closed")


def test_security_request_rejected_by_foreman_and_customer_is_reworked(sc: Scenario) -> None:
    sc.start(KEY, request("security"), "cs_assistant")
    assert sc.task("assist").role == "security_guard"
    sc.do("assist", "security_guard", {"result": "已巡查"})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": False})
    assert sc.open_tasks() == ["assist"]
    sc.do("assist", "security_guard2", {"result": "加派人手"})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback(satisfied=False))
    assert sc.open_tasks() == ["assist"]
    sc.do("assist", "security_guard", {"result": "安裝門禁"})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["assist", "foreman_confirm", "assist", "foreman_confirm", "callback",
                         "assist", "foreman_confirm", "callback"]
    sc.assert_ended("closed")


def test_repair_goes_to_the_dispatched_technician_and_closes(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    assert sc.inbox("engineering_dispatcher") == ["dispatch"]
    dispatch(sc, "technician2")
    arrive = sc.task("arrive_on_site")
    assert (arrive.assignee, arrive.assigned_by_process) == ("technician2", True)
    assert arrive.due_at == sc.now + timedelta(minutes=15)
    assert sc.inbox("technician2", scope="mine") == ["arrive_on_site"]
    assert sc.inbox("technician") == []
    with pytest.raises(Forbidden, match="assigned to technician2"):
        sc.do("arrive_on_site", "technician")
    repair(sc, "technician2")
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["dispatch", "arrive_on_site", "repair", "foreman_confirm", "callback"]
    assert sc.data["trade"] == "hvac"
    assert sc.history("escalation") == []
    sc.assert_ended("closed")


def test_paid_repair_needs_a_charge_amount(sc: Scenario) -> None:
    sc.start(KEY, request("repair", paid=True), "cs_assistant")
    dispatch(sc)
    sc.do("arrive_on_site", "technician")
    with pytest.raises(InvalidData) as refused:
        sc.do("repair", "technician", {"result": "已修好", "fixed": True})
    assert set(refused.value.fields) == {"charge_amount"}
    assert sc.open_tasks() == ["repair"]
    sc.do("repair", "technician", {"result": "已修好", "fixed": True, "charge_amount": 80})
    assert sc.data["charge_amount"] == 80
    assert sc.open_tasks() == ["foreman_confirm"]


def test_repair_not_fixed_is_dispatched_again(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc, "technician")
    repair(sc, "technician", fixed=False)
    assert sc.open_tasks() == ["dispatch"]
    dispatch(sc, "technician2")
    assert sc.task("arrive_on_site").assignee == "technician2"
    repair(sc, "technician2")
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["dispatch", "arrive_on_site", "repair", "dispatch", "arrive_on_site", "repair",
                         "foreman_confirm", "callback"]
    sc.assert_ended("closed")


def test_foreman_rejection_sends_the_work_back_to_the_technician(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc)
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": False})
    assert sc.task("repair").assignee == "technician"
    sc.do("repair", "technician", {"result": "返修完成", "fixed": True})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["dispatch", "arrive_on_site", "repair", "foreman_confirm", "repair",
                         "foreman_confirm", "callback"]
    sc.assert_ended("closed")


def test_unsatisfied_repair_callback_goes_back_to_repair(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc)
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    with pytest.raises(InvalidData) as refused:
        sc.do("callback", "cs_assistant", {"satisfied": False, "callback_method": "phone"})
    assert set(refused.value.fields) == {"comments"}
    sc.do("callback", "cs_assistant", callback(satisfied=False))
    assert sc.task("repair").assignee == "technician"
    sc.do("repair", "technician", {"result": "再次維修", "fixed": True})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["dispatch", "arrive_on_site", "repair", "foreman_confirm", "callback", "repair",
                         "foreman_confirm", "callback"]
    assert [(h.details or {})["data"]["satisfied"] for h in sc.history("task_completed")
            if h.element_id == "callback"] == [False, True]
    sc.assert_ended("closed")


def test_late_technician_escalates_to_the_dispatcher_and_work_goes_on(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc)
    due = sc.due("arrive_on_site")
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.history("escalation") == []
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("arrive_on_site", "arrive_overdue")
    assert sc.task("arrive_on_site").assignee == "technician"
    assert sc.open_tasks() == ["arrive_on_site", "follow_up_arrival"]
    assert sc.inbox("engineering_dispatcher") == ["follow_up_arrival"]
    sc.advance(minutes=20)
    sc.do("follow_up_arrival", "engineering_dispatcher", {"follow_up_note": "已電話催促技工"})
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["dispatch", "follow_up_arrival", "arrive_on_site", "repair", "foreman_confirm",
                         "callback"]
    sc.assert_ended("closed")


def test_late_callback_escalates_to_the_supervisor_on_working_hours(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc)
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    due = sc.due("callback")
    # Monday 10:00 + 24 working hours (08:00–19:00) = Wednesday 12:00 Shanghai = 04:00 UTC.
    assert due == sc.now + timedelta(days=2, hours=2)
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("callback", "callback_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_callback"]
    assert sc.open_tasks() == ["callback", "follow_up_callback"]
    sc.advance(days=2, hours=3)
    sc.do("callback", "cs_assistant", callback())
    assert sc.instance().status == "running"  # the follow-up is still open
    sc.do("follow_up_callback", "cs_supervisor", {"follow_up_note": "已督促回訪"})
    sc.assert_ended("closed")


def test_substitute_repair_is_approved_by_the_project_manager_and_charged_back(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc, substitute_repair=True)
    ask_for_substitute(sc)
    assert sc.inbox("project_manager") == ["approve_substitute_repair"]
    sc.do("approve_substitute_repair", "project_manager", {"substitute_approved": True})
    # The request was taken hours ago: the 15-minute arrival clock (from the request) is long gone.
    sc.do("follow_up_arrival", "engineering_dispatcher", {"follow_up_note": "代維人員進場中"})
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("record_chargeback", "project_manager", {"substitute_cost": 1150, "chargeback_note": "結算款扣回"})
    sc.do("callback", "cs_assistant", callback())
    assert sc.path() == ["dispatch", "notify_responsible_team", "request_substitute_repair",
                         "approve_substitute_repair", "follow_up_arrival", "arrive_on_site", "repair",
                         "foreman_confirm", "record_chargeback", "callback"]
    assert sc.data["substitute_cost"] == 1150
    sc.assert_ended("closed")


def test_refused_substitute_repair_is_dispatched_again(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc, substitute_repair=True)
    ask_for_substitute(sc)
    sc.do("approve_substitute_repair", "project_manager", {"substitute_approved": False})
    assert sc.open_tasks() == ["dispatch"]
    dispatch(sc)  # substitute_repair falls back to its default, false
    sc.do("follow_up_arrival", "engineering_dispatcher", {"follow_up_note": "已催促技工"})
    repair(sc)
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    assert "record_chargeback" not in sc.path()
    sc.assert_ended("closed")


# -- issue 12: every clock starts at the event the rule book names ------------------------------

def test_on_site_deadline_counts_from_the_request_not_from_the_dispatch(sc: Scenario) -> None:
    received = sc.now
    sc.start(KEY, request("repair"), "cs_assistant")
    sc.advance(hours=3)  # dispatched three hours after the request
    dispatch(sc)
    # Already late the moment it is dispatched: the deadline fires in the dispatching step.
    sc.assert_escalated("arrive_on_site", "arrive_overdue")
    assert [h.at for h in sc.history("escalation")] == [sc.now]
    assert received + timedelta(minutes=15) < sc.now
    assert sc.inbox("engineering_dispatcher") == ["follow_up_arrival"]


@pytest.mark.parametrize(("category", "role"), [("housekeeping", "housekeeping"),
                                                 ("security", "security_guard")])
def test_assistance_is_due_on_site_15_minutes_after_the_request(sc: Scenario, category: str,
                                                                  role: str) -> None:
    sc.start(KEY, request(category), "cs_assistant")
    due = sc.due("assist")
    assert due == sc.now + timedelta(minutes=15)
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("assist", "assist_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_assist"]
    sc.advance(minutes=30)
    sc.do("assist", role, {"result": "已處理"})
    sc.do("follow_up_assist", "cs_supervisor", {"follow_up_note": "已催促到場"})
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    sc.do("callback", "cs_assistant", callback())
    sc.assert_ended("closed")


def test_callback_deadline_counts_from_the_end_of_the_work_not_from_the_callback_task(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc)
    repair(sc)
    work_done = sc.now
    sc.advance(days=2)  # the foreman confirms two days later
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    # Monday 10:00 + 24 working hours (08:00–19:00) = Wednesday 12:00, two hours from now.
    assert sc.due("callback") == work_done + timedelta(days=2, hours=2)
    assert sc.fire(sc.now + timedelta(hours=2, seconds=1)) is True
    sc.assert_escalated("callback", "callback_overdue")


def test_consultation_callback_counts_from_the_guidance(sc: Scenario) -> None:
    sc.start(KEY, request("consultation"), "cs_assistant")
    sc.advance(days=1)
    sc.do("give_guidance", "cs_assistant", {"guidance": "電話說明"})
    # Tuesday 10:00 + 24 working hours = Thursday 12:00.
    assert sc.due("callback") == sc.now + timedelta(days=2, hours=2)
    assert sc.data["work_done_at"] == sc.now.isoformat()


def test_charge_back_runs_beside_the_callback_and_never_delays_it(sc: Scenario) -> None:
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc, substitute_repair=True)
    ask_for_substitute(sc)
    sc.do("approve_substitute_repair", "project_manager", {"substitute_approved": True})
    # The request was taken hours ago: the 15-minute arrival clock (from the request) is long gone.
    sc.do("follow_up_arrival", "engineering_dispatcher", {"follow_up_note": "代維人員進場中"})
    assert sc.open_tasks() == ["arrive_on_site", "record_chargeback"]
    repair(sc)
    work_done = sc.now
    sc.do("foreman_confirm", "area_foreman", {"confirmed": True})
    assert sc.open_tasks() == ["callback", "record_chargeback"]
    assert sc.due("callback") == work_done + timedelta(days=2, hours=2)
    sc.do("callback", "cs_assistant", callback())
    assert sc.instance().status == "running"  # the charge-back is still to be recorded
    sc.advance(days=7)
    sc.do("record_chargeback", "project_manager", {"substitute_cost": 1150, "chargeback_note": "結算款扣回"})
    assert sc.path() == ["dispatch", "notify_responsible_team", "request_substitute_repair",
                         "approve_substitute_repair", "follow_up_arrival", "arrive_on_site", "repair",
                         "foreman_confirm", "callback", "record_chargeback"]
    sc.assert_ended("closed")


def test_substitute_repair_only_after_the_responsible_team_was_told_and_its_deadline_passed(
        sc: Scenario) -> None:
    # RULES #40–41 (seed 002): 先通知責任班組限期進場；逾期未進場才請示代維，
    # 請示列明事由、班組、苑區、路址、部位、費用、甲方通知方式。
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc, substitute_repair=True)
    assert sc.open_tasks() == ["notify_responsible_team"]
    assert sc.inbox("engineering_dispatcher") == ["notify_responsible_team"]
    deadline = sc.now + timedelta(hours=4)
    sc.do("notify_responsible_team", "engineering_dispatcher", {
        "responsible_subcontractor": "甲空調公司 HT-2026-17", "entry_deadline": deadline.isoformat(),
        "team_notice": "A苑 幸福路1號 8F-0802 空調，今日14:00前進場"})
    sc.advance(hours=1)
    with pytest.raises(InvalidData) as refused:
        sc.do("request_substitute_repair", "engineering_dispatcher", SUBSTITUTE_REQUEST)
    assert set(refused.value.fields) == {"estimated_cost"}  # the team still has three hours
    sc.advance(hours=3)
    with pytest.raises(InvalidData) as refused:
        sc.do("request_substitute_repair", "engineering_dispatcher",
              {k: v for k, v in SUBSTITUTE_REQUEST.items() if k not in ("estate", "principal_notice")})
    assert set(refused.value.fields) == {"estate", "principal_notice"}
    sc.do("request_substitute_repair", "engineering_dispatcher", SUBSTITUTE_REQUEST)
    assert sc.open_tasks() == ["approve_substitute_repair"]
    assert sc.data["responsible_subcontractor"] == "甲空調公司 HT-2026-17"


def substitute_case(sc: Scenario, team: str, cost: float | None) -> None:
    """Run one substitute repair charged to team; record the charge-back when cost is given."""
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc, substitute_repair=True)
    sc.do("notify_responsible_team", "engineering_dispatcher", {
        "responsible_subcontractor": team, "entry_deadline": (sc.now + timedelta(hours=1)).isoformat(),
        "team_notice": "限期進場"})
    sc.advance(hours=1)
    sc.do("request_substitute_repair", "engineering_dispatcher", SUBSTITUTE_REQUEST)
    sc.do("approve_substitute_repair", "project_manager", {"substitute_approved": True})
    if cost is not None:
        sc.do("record_chargeback", "project_manager",
              {"substitute_cost": cost, "chargeback_note": "結算款扣回"})


def test_charge_backs_go_to_a_register_per_responsible_team(sc: Scenario) -> None:
    # RULES #42 (seed 002): 代維費用從責任單位結算款中扣回 — per team, read from the cases themselves.
    substitute_case(sc, "甲空調公司", 1150)
    substitute_case(sc, "甲空調公司", None)  # approved, charge-back not yet recorded
    substitute_case(sc, "乙水電班組", 300)
    sc.start(KEY, request("repair"), "cs_assistant")
    dispatch(sc)  # an ordinary repair is not in the register
    register = charge_backs.rows(sc.session)
    assert [(r["team"], r["charged"], r["estimated_cost"], r["approved_by"]) for r in register] == [
        ("甲空調公司", "1150", "1200", "project_manager"), ("甲空調公司", "", "1200", "project_manager"),
        ("乙水電班組", "300", "1200", "project_manager")]
    assert charge_backs.totals(register) == [
        {"team": "甲空調公司", "cases": 2, "estimated_cost": 2400.0, "charged": 1150.0, "pending": 1},
        {"team": "乙水電班組", "cases": 1, "estimated_cost": 1200.0, "charged": 300.0, "pending": 0}]
    text = charge_backs.register_csv(sc.session)
    assert text.startswith("\ufeff流程单号,被代维班组/合同编号")
    assert ",甲空調公司,2,2400,1150,1\r\n" in text
