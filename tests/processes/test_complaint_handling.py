"""Scenario tests for complaint_handling (客戶投訴處理): severities, day and night, ownership, deadlines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, InvalidData
from engine.notify.models import Delivery, Notification
from tests.processes.helpers import Scenario

KEY = "complaint_handling"
NIGHT = timedelta(hours=12)  # T0 (Monday 10:00 Shanghai) + 12 h = Monday 22:00
NEXT_MORNING = timedelta(hours=22)  # Tuesday 08:00 Shanghai, the front desk's next opening
FORWARD_MINUTES = {"major": 10, "general": 20, "minor": 30}


def complaint(severity: str) -> dict[str, Any]:
    """Return a start form as the receiver fills it."""
    return {"channel": "visit", "complainant": "林女士", "contact_phone": "13900000000", "unit": "8F-0802",
            "content": "電梯停運兩小時無人處理", "severity": severity}


def investigation(valid: bool) -> dict[str, Any]:
    """Return an investigation result."""
    data: dict[str, Any] = {"valid": valid, "findings": "查明原因"}
    if valid:
        data["corrective_action"] = "加強巡檢"
    return data


def callback(severity: str, satisfied: bool = True) -> dict[str, Any]:
    """Return a callback form; a major complaint is visited in person with the project manager."""
    data: dict[str, Any] = {"satisfied": satisfied, "signed_by": "林女士", "callback_method": "phone"}
    if severity == "major":
        data.update(callback_method="face_to_face", project_manager_present="project_manager")
    return data


PM_CONFIRMS = {"pm_confirmed": True, "pm_note": "已與客服部經理一同上門"}


def resolve(sc: Scenario, owner: str, *, valid: bool) -> None:
    """Investigate in engineering and close the loop with the customer as the owner."""
    sc.do("investigate", "engineering_dispatcher", investigation(valid))
    sc.do("confirm_validity", "cs_supervisor", {"valid": valid})
    if valid:
        sc.do("inform_customer", owner, {"notification_record": "已電話告知處理結果"})
    else:
        sc.do("explain_and_assist", owner, {"cause": "非物業責任", "assistance_plan": "協助聯繫廠家",
                                            "communication_record": "已面談"})


@pytest.mark.parametrize(("severity", "valid"), [("general", True), ("minor", False), ("major", True)])
def test_day_complaint_is_owned_by_its_receiver_to_the_end(sc: Scenario, severity: str, valid: bool) -> None:
    sc.start(KEY, complaint(severity), "cs_assistant2")
    forward = sc.task("forward")
    assert (forward.assignee, forward.role) == ("cs_assistant2", "cs_assistant")
    assert forward.due_at == sc.now + timedelta(minutes=FORWARD_MINUTES[severity])
    assert sc.inbox("cs_assistant") == []  # first-contact: nobody else at the desk sees it
    with pytest.raises(Forbidden):
        sc.do("forward", "cs_assistant", {"department": "engineering"})
    sc.do("forward", "cs_assistant2", {"department": "engineering"})
    investigate = sc.task("investigate")
    assert investigate.role == "engineering_dispatcher"
    resolve(sc, "cs_assistant2", valid=valid)
    assert sc.inbox("cs_manager") == ["callback"]
    sc.do("callback", "cs_manager", callback(severity))
    customer_facing = "inform_customer" if valid else "explain_and_assist"
    expected = ["forward", "investigate", "confirm_validity", customer_facing, "callback"]
    if severity == "major":
        sc.do("confirm_callback_pm", "project_manager", PM_CONFIRMS)
        expected.append("confirm_callback_pm")
        assert sc.open_tasks() == ["report_to_leadership"]
        sc.do("report_to_leadership", "project_manager", {"report_summary": "已上報公司領導"})
        expected.append("report_to_leadership")
    assert sc.path() == expected
    owners = {e: who for e, who in sc.performers() if e in ("forward", customer_facing)}
    assert owners == {"forward": "cs_assistant2", customer_facing: "cs_assistant2"}
    sc.assert_ended("closed")


def test_major_complaint_reports_to_leadership_alongside_the_case(sc: Scenario) -> None:
    sc.start(KEY, complaint("major"), "cs_assistant")
    assert sc.open_tasks() == ["forward", "report_to_leadership"]
    report = sc.task("report_to_leadership")
    assert report.role == "project_manager"
    assert report.due_at == sc.now + timedelta(hours=1)
    sc.do("report_to_leadership", "project_manager", {"report_summary": "電梯故障致客戶受困"})
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    # Major: handled at once, on the wall clock from receipt: Monday 10:00 → Tuesday 10:00.
    assert sc.due("investigate") == sc.now + timedelta(hours=24)
    resolve(sc, "cs_assistant", valid=True)
    with pytest.raises(InvalidData) as refused:
        sc.do("callback", "cs_manager", {**callback("general"), "satisfied": True})
    # One round: the missing attendee and the rule on the method are reported together.
    assert set(refused.value.fields) == {"project_manager_present", "callback_method"}
    with pytest.raises(InvalidData) as refused:
        sc.do("callback", "cs_manager", {**callback("major"), "callback_method": "phone"})
    assert set(refused.value.fields) == {"callback_method"}
    sc.do("callback", "cs_manager", callback("major"))
    sc.do("confirm_callback_pm", "project_manager", PM_CONFIRMS)
    assert sc.data["project_manager_present"] == "project_manager"
    sc.assert_ended("closed")


def test_unsatisfied_callback_sends_the_complaint_back_to_investigation(sc: Scenario) -> None:
    sc.start(KEY, complaint("general"), "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "security"})
    assert sc.task("investigate").role == "security_guard"
    sc.do("investigate", "security_guard", investigation(False))
    sc.do("confirm_validity", "cs_supervisor", {"valid": False})
    sc.do("explain_and_assist", "cs_assistant", {"cause": "誤會", "assistance_plan": "解釋",
                                                 "communication_record": "電話"})
    sc.do("callback", "cs_manager", callback("general", satisfied=False))
    assert sc.open_tasks() == ["investigate"]
    sc.do("investigate", "security_guard2", investigation(True))
    sc.do("confirm_validity", "cs_supervisor", {"valid": True})
    assert sc.task("inform_customer").assignee == "cs_assistant"
    sc.do("inform_customer", "cs_assistant", {"notification_record": "已告知整改"})
    sc.do("callback", "cs_manager", callback("general"))
    assert sc.path() == ["forward", "investigate", "confirm_validity", "explain_and_assist", "callback",
                         "investigate", "confirm_validity", "inform_customer", "callback"]
    sc.assert_ended("closed")


@pytest.mark.parametrize("severity", ["general", "minor"])
def test_night_complaint_waits_for_the_morning_and_whoever_accepts_owns_it(sc: Scenario,
                                                                           severity: str) -> None:
    sc.advance(hours=12)  # Monday 22:00
    sc.start(KEY, complaint(severity), "night_duty")
    assert sc.open_tasks() == []
    morning = sc.now - NIGHT + NEXT_MORNING
    assert sc.instance().next_wakeup_at == morning
    assert sc.fire(morning - timedelta(seconds=1)) is False
    assert sc.fire(morning + timedelta(seconds=1)) is True
    sc.now = morning + timedelta(minutes=5)
    accept = sc.task("accept_case")
    assert (accept.role, accept.assignee) == ("cs_assistant", None)
    assert sc.inbox("cs_assistant") == sc.inbox("cs_assistant2") == ["accept_case"]
    with pytest.raises(Forbidden):
        sc.claim("accept_case", "night_duty")
    sc.do("accept_case", "cs_assistant2", {"accept_note": "已接收"})
    assert sc.data["owner"] == "cs_assistant2"
    forward = sc.task("forward")
    assert forward.assignee == "cs_assistant2"
    assert forward.due_at == sc.now + timedelta(minutes=FORWARD_MINUTES[severity])
    sc.do("forward", "cs_assistant2", {"department": "engineering"})
    resolve(sc, "cs_assistant2", valid=severity == "general")
    sc.do("callback", "cs_manager", callback(severity))
    assert sc.path()[:2] == ["accept_case", "forward"]
    sc.assert_ended("closed")


def test_night_complaint_taken_in_working_hours_is_accepted_at_once(sc: Scenario) -> None:
    sc.start(KEY, complaint("minor"), "night_duty")
    assert sc.open_tasks() == ["accept_case"]
    assert sc.history("timer_fired")[0].element_id == "wait_morning"


def test_night_major_complaint_alerts_both_managers_at_once(sc: Scenario) -> None:
    sc.advance(hours=12)
    sc.start(KEY, complaint("major"), "night_duty")
    assert sc.open_tasks() == ["report_to_leadership", "take_over_case"]
    assert sc.inbox("cs_manager") == ["take_over_case"]
    assert sc.inbox("project_manager") == ["report_to_leadership"]
    sc.do("report_to_leadership", "project_manager", {"report_summary": "夜間重大投訴已上報"})
    sc.do("take_over_case", "cs_manager", {"takeover_note": "接手跟進"})
    forward = sc.task("forward")
    assert (forward.assignee, forward.role) == ("cs_manager", "cs_manager")
    sc.do("forward", "cs_manager", {"department": "customer_service"})
    sc.do("investigate", "cs_supervisor", investigation(True))
    sc.do("confirm_validity", "cs_supervisor", {"valid": True})
    sc.do("inform_customer", "cs_manager", {"notification_record": "經理親自告知"})
    sc.do("callback", "cs_manager", callback("major"))
    sc.do("confirm_callback_pm", "project_manager", PM_CONFIRMS)
    assert sc.path() == ["report_to_leadership", "take_over_case", "forward", "investigate",
                         "confirm_validity", "inform_customer", "callback", "confirm_callback_pm"]
    sc.assert_ended("closed")


@pytest.mark.parametrize("severity", ["major", "general", "minor"])
def test_late_forwarding_escalates_to_the_supervisor(sc: Scenario, severity: str) -> None:
    sc.start(KEY, complaint(severity), "cs_assistant")
    due = sc.due("forward")
    assert due == sc.now + timedelta(minutes=FORWARD_MINUTES[severity])
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("forward", "forward_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_forward"]
    assert sc.task("forward").assignee == "cs_assistant"  # the owner keeps the work
    sc.now = due + timedelta(minutes=1)
    sc.do("follow_up_forward", "cs_supervisor", {"follow_up_note": "已提醒首問負責人"})
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    assert "investigate" in sc.open_tasks()


def test_late_leadership_report_escalates_to_the_manager(sc: Scenario) -> None:
    sc.start(KEY, complaint("major"), "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    due = sc.due("report_to_leadership")
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("report_to_leadership", "report_overdue")
    assert sc.inbox("cs_manager") == ["follow_up_report"]
    assert sc.open_tasks() == ["follow_up_report", "investigate", "report_to_leadership"]
    sc.do("report_to_leadership", "project_manager", {"report_summary": "遲報"})
    sc.do("follow_up_report", "cs_manager", {"follow_up_note": "已催促"})
    resolve(sc, "cs_assistant", valid=True)
    sc.do("callback", "cs_manager", callback("major"))
    sc.do("confirm_callback_pm", "project_manager", PM_CONFIRMS)
    sc.assert_ended("closed")


@pytest.mark.parametrize(("severity", "due_after"), [
    ("major", timedelta(hours=24)),  # Monday 10:00 + 24 wall-clock hours = Tuesday 10:00
    ("general", timedelta(days=2, hours=2)),  # + 24 working hours = Wednesday 12:00
])
def test_late_investigation_escalates_on_working_hours(sc: Scenario, severity: str,
                                                       due_after: timedelta) -> None:
    sc.start(KEY, complaint(severity), "cs_assistant")
    if severity == "major":
        sc.do("report_to_leadership", "project_manager", {"report_summary": "已上報"})
    sc.do("forward", "cs_assistant", {"department": "housekeeping"})
    due = sc.due("investigate")
    assert due == sc.now + due_after
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.history("escalation") == []
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("investigate", "investigate_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_investigation"]
    assert sc.task("investigate").role == "housekeeping"
    sc.do("follow_up_investigation", "cs_supervisor", {"follow_up_note": "督辦"})
    sc.do("investigate", "housekeeping", investigation(True))
    sc.do("confirm_validity", "cs_supervisor", {"valid": True})
    assert sc.open_tasks() == ["inform_customer"]


def test_late_callback_escalates_to_the_supervisor(sc: Scenario) -> None:
    sc.start(KEY, complaint("minor"), "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    resolve(sc, "cs_assistant", valid=True)
    due = sc.due("callback")
    assert due == sc.now + timedelta(hours=24)
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("callback", "callback_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_callback"]
    sc.do("callback", "cs_manager", callback("minor"))
    assert sc.instance().status == "running"
    sc.do("follow_up_callback", "cs_supervisor", {"follow_up_note": "已回訪"})
    sc.assert_ended("closed")


# -- issue 12: complaints are timed from receipt ------------------------------------------------

def test_night_major_complaint_alerts_every_department_manager_at_once_even_in_quiet_hours(
        sc: Scenario) -> None:
    # RULES #11 (4.4.1.2): 如遇重大投訴應在第一時間通知各部門經理和項目經理 — a push, not only a task.
    sc.advance(hours=12)
    sc.start(KEY, complaint("major"), "night_duty")
    note = sc.session.scalars(select(Notification).where(
        Notification.event == "process", Notification.instance_id == sc.instance_id)).one()
    told = sorted(sc.session.scalars(select(Delivery.channel).where(
        Delivery.notification_id == note.id, Delivery.channel.like("app:%"))))
    assert (note.element_id, note.urgent) == ("take_over_case", True)
    assert "8F-0802" in note.title_zh
    assert told == ["app:cs_manager", "app:general_manager", "app:project_manager"]


def test_night_major_complaint_is_taken_over_within_10_minutes_of_receipt(sc: Scenario) -> None:
    sc.advance(hours=12)  # Monday 22:00
    received = sc.now
    sc.start(KEY, complaint("major"), "night_duty")
    due = sc.due("take_over_case")
    assert due == received + timedelta(minutes=10)
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("take_over_case", "take_over_overdue")
    assert sc.inbox("project_manager") == ["follow_up_take_over", "report_to_leadership"]


def test_night_major_complaint_taken_over_next_morning_is_already_late_to_forward(sc: Scenario) -> None:
    sc.advance(hours=12)  # Monday 22:00
    received = sc.now
    sc.start(KEY, complaint("major"), "night_duty")
    sc.now = received + timedelta(hours=9)  # taken over at 07:00
    sc.do("take_over_case", "cs_manager", {"takeover_note": "早上接手"})
    # The forward deadline counts from receipt (10 min), so it fires in the take-over step.
    sc.assert_escalated("forward", "forward_overdue")
    assert "follow_up_forward" in sc.open_tasks()


def test_night_general_complaint_is_accepted_within_30_minutes_of_opening(sc: Scenario) -> None:
    sc.advance(hours=12)  # Monday 22:00
    sc.start(KEY, complaint("general"), "night_duty")
    morning = sc.now - NIGHT + NEXT_MORNING
    assert sc.fire(morning) is True
    sc.now = morning
    due = sc.due("accept_case")
    assert due == morning + timedelta(minutes=30)
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("accept_case", "accept_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_accept"]
    sc.now = due + timedelta(minutes=10)
    sc.do("accept_case", "cs_assistant", {"accept_note": "遲接收"})
    # A night complaint is passed on in the morning: its forward clock starts at acceptance.
    assert sc.due("forward") == sc.now + timedelta(minutes=FORWARD_MINUTES["general"])


def test_handling_is_timed_from_receipt_until_the_customer_is_informed(sc: Scenario) -> None:
    received = sc.now
    sc.start(KEY, complaint("general"), "cs_assistant")
    handling_due = received + timedelta(days=2, hours=2)  # Monday 10:00 + 24 working hours
    sc.advance(days=1)  # forwarded a day late
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    assert sc.due("investigate") == handling_due
    sc.do("investigate", "engineering_dispatcher", investigation(True))
    sc.do("confirm_validity", "cs_supervisor", {"valid": True})
    assert sc.due("inform_customer") == handling_due
    assert sc.fire(handling_due + timedelta(seconds=1)) is True
    sc.assert_escalated("inform_customer", "inform_customer_overdue")
    assert sc.inbox("cs_supervisor") == ["follow_up_investigation"]


def test_major_complaint_received_friday_evening_is_due_on_the_wall_clock(sc: Scenario) -> None:
    sc.advance(days=4, hours=10)  # Friday 20:00
    received = sc.now
    sc.start(KEY, complaint("major"), "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "security"})
    assert sc.due("investigate") == received + timedelta(hours=24)  # Saturday 20:00, not Monday


def test_minor_complaint_is_due_by_the_customers_requested_time(sc: Scenario) -> None:
    requested = sc.now + timedelta(hours=6)
    sc.start(KEY, {**complaint("minor"), "customer_requested_deadline": requested.isoformat()},
             "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "cleaning"})
    assert sc.due("investigate") == requested


def test_promised_reply_time_bounds_the_handling_deadline(sc: Scenario) -> None:
    promised = sc.now + timedelta(hours=3)
    sc.start(KEY, {**complaint("general"), "promised_reply_at": promised.isoformat()}, "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    assert sc.due("investigate") == promised


def test_complaint_answered_at_intake_goes_straight_to_the_callback(sc: Scenario) -> None:
    sc.start(KEY, {**complaint("minor"), "answered_at_intake": True, "intake_answer": "已當場說明停水原因"},
             "cs_assistant")
    assert sc.open_tasks() == ["callback"]
    sc.do("callback", "cs_manager", callback("minor"))
    assert sc.path() == ["callback"]
    sc.assert_ended("closed")


def test_upgrade_to_major_at_investigation_starts_the_major_report(sc: Scenario) -> None:
    sc.start(KEY, complaint("general"), "cs_assistant")
    assert "report_to_leadership" not in sc.open_tasks()
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    sc.advance(hours=1)
    sc.do("investigate", "engineering_dispatcher", {**investigation(True), "severity_confirmed": "major"})
    sc.do("confirm_validity", "cs_supervisor", {"valid": True})
    assert sc.open_tasks() == ["inform_customer", "report_to_leadership"]
    assert sc.due("report_to_leadership") == sc.now + timedelta(hours=1)
    assert sc.data["severity"] == "major"
    sc.do("report_to_leadership", "project_manager", {"report_summary": "調查確認為重大投訴"})
    sc.do("inform_customer", "cs_assistant", {"notification_record": "已告知"})
    with pytest.raises(InvalidData):
        sc.do("callback", "cs_manager", callback("general"))  # a major callback is in person
    sc.do("callback", "cs_manager", callback("major"))
    sc.do("confirm_callback_pm", "project_manager", PM_CONFIRMS)
    sc.assert_ended("closed")


def test_major_callback_is_confirmed_by_the_project_manager_in_person(sc: Scenario) -> None:
    # RULES #17 (4.4.4): a major complaint's callback is made by the manager with the project manager.
    sc.start(KEY, complaint("major"), "cs_assistant")
    sc.do("report_to_leadership", "project_manager", {"report_summary": "已上報"})
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    resolve(sc, "cs_assistant", valid=True)
    sc.do("callback", "cs_manager", callback("major"))
    confirm = sc.task("confirm_callback_pm")
    assert (confirm.assignee, confirm.role) == ("project_manager", "project_manager")
    assert sc.inbox("project_manager", scope="mine") == ["confirm_callback_pm"]
    sc.do("confirm_callback_pm", "project_manager", {"pm_confirmed": False, "pm_note": "我未到場"})
    assert sc.open_tasks() == ["callback"]  # not attended: the visit is made again
    sc.do("callback", "cs_manager", callback("major"))
    sc.do("confirm_callback_pm", "project_manager", PM_CONFIRMS)
    sc.assert_ended("closed")


def test_general_callback_needs_no_project_manager_confirmation(sc: Scenario) -> None:
    sc.start(KEY, complaint("general"), "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "engineering"})
    resolve(sc, "cs_assistant", valid=True)
    sc.do("callback", "cs_manager", callback("general"))
    sc.assert_ended("closed")


def test_validity_is_confirmed_by_the_customer_service_supervisor_not_the_investigator(sc: Scenario) -> None:
    # RULES #15 (4.4.3.1): 投訴有效性由客服部或當事部門主管確認 — a guard's finding is not the last word.
    sc.start(KEY, complaint("general"), "cs_assistant")
    sc.do("forward", "cs_assistant", {"department": "security"})
    sc.do("investigate", "security_guard", investigation(False))
    confirm = sc.task("confirm_validity")
    assert confirm.role == "cs_supervisor"
    with pytest.raises(Forbidden):
        sc.do("confirm_validity", "security_guard", {"valid": False})
    sc.do("confirm_validity", "cs_supervisor", {"valid": True, "validity_note": "屬保安失職，確認有效"})
    assert sc.open_tasks() == ["inform_customer"]  # the supervisor's judgement decides the path
    assert sc.data["valid"] is True
