"""Scenario tests for service_quality_anomaly (服務質量異常處理, 異常處理單): report to verified closure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import quality
from engine.errors import InvalidData
from tests.processes.helpers import Scenario

KEY = "service_quality_anomaly"


def report(sc: Scenario, **override: Any) -> dict[str, Any]:
    """Return a start form: a quality check found a receptionist without a badge."""
    return {"service_item": "appearance", "observed_at": (sc.now - timedelta(minutes=30)).isoformat(),
            "source": "quality_check", "description": "前台接待未佩戴胸卡", **override}


def handle_until_implementation(sc: Scenario, department: str = "housekeeping") -> None:
    """Investigate, instruct with a due date three days on, countersign and review."""
    sc.do("investigate", "quality_specialist", {"cause": "胸卡遗失未补办", "handling": "当场提醒并登记",
                                                "improvement": "每日班前检查仪容", "department": department})
    sc.do("manager_instruction", "cs_manager", {"instruction": "三日内落实班前检查",
                                                "improvement_due": (sc.now + timedelta(days=3)).isoformat()})
    head = quality.DEPARTMENTS[department][2]
    assert sc.task("department_countersign").role == head
    sc.do("department_countersign", head, {"countersign_note": "同意"})
    sc.do("cs_review", "cs_supervisor", {"review_note": "复核无误"})


def test_anomaly_is_investigated_instructed_countersigned_reviewed_implemented_and_verified(
        sc: Scenario, session: Session) -> None:
    sc.start(KEY, report(sc), "cleaner")
    [line] = quality.anomalies(session)
    assert (line.service_item, line.status, line.reported_by) == ("appearance", "open", "cleaner")
    assert sc.inbox("quality_specialist") == ["investigate"]
    handle_until_implementation(sc)
    assert sc.task("implement_improvement").role == "housekeeping"
    sc.do("implement_improvement", "housekeeping", {"implementation": "已增设班前检查"})
    sc.advance(days=1)
    sc.do("verify_result", "quality_specialist", {"effective": True, "verification": "连续三日检查合格"})
    assert sc.path() == ["investigate", "manager_instruction", "department_countersign", "cs_review",
                         "implement_improvement", "verify_result"]
    sc.assert_ended("closed")
    session.expire_all()
    [line] = quality.anomalies(session)
    assert (line.status, line.closed_at, line.verified_by) == ("closed", sc.now, "quality_specialist")
    assert (line.cause, line.improvement) == ("胸卡遗失未补办", "每日班前检查仪容")
    assert line.department == "housekeeping"


def test_ineffective_improvement_goes_back_to_implementation(sc: Scenario, session: Session) -> None:
    sc.start(KEY, report(sc), "quality_specialist")
    handle_until_implementation(sc, "customer_service")
    sc.do("implement_improvement", "cs_supervisor", {"implementation": "口头提醒"})
    sc.do("verify_result", "quality_specialist", {"effective": False, "verification": "次日仍未佩戴"})
    assert sc.open_tasks() == ["implement_improvement"]
    assert quality.anomalies(session)[0].status == "open"
    sc.do("implement_improvement", "cs_supervisor", {"implementation": "补办胸卡并班前检查"})
    sc.do("verify_result", "quality_specialist", {"effective": True, "verification": "已改善"})
    sc.assert_ended("closed")


def test_improvement_past_the_managers_due_date_escalates_to_the_manager(sc: Scenario) -> None:
    sc.start(KEY, report(sc), "quality_specialist")
    handle_until_implementation(sc)
    due = sc.due("implement_improvement")
    assert not sc.fire(due - timedelta(seconds=1))
    assert sc.fire(due + timedelta(seconds=1))
    sc.assert_escalated("implement_improvement", "improvement_overdue")
    assert sc.inbox("cs_manager") == ["follow_up_improvement"]
    sc.advance(days=4)
    sc.do("follow_up_improvement", "cs_manager", {"follow_up_note": "已督促"})
    sc.do("implement_improvement", "housekeeping", {"implementation": "完成"})
    sc.do("verify_result", "quality_specialist", {"effective": True, "verification": "已改善"})
    sc.assert_ended("closed")


def test_report_needs_a_description_and_a_past_observation_time(sc: Scenario) -> None:
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(sc, description=""), "cleaner")
    assert set(refused.value.fields) == {"description"}
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(sc, observed_at=(sc.now + timedelta(hours=1)).isoformat()), "cleaner")
    assert set(refused.value.fields) == {"observed_at"}
