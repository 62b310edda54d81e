"""Scenario tests for customer_visit (客戶走訪): a visit record, followed up when the customer asks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import quality
from engine.errors import Forbidden, InvalidData
from tests.processes.helpers import Scenario

KEY = "customer_visit"


def visit(sc: Scenario, **override: Any) -> dict[str, Any]:
    """Return a visit record made an hour ago."""
    return {"customer": "华信公司", "unit": "12F", "visited_at": (sc.now - timedelta(hours=1)).isoformat(),
            "feedback": "空调偏冷", "actions": "已通知工程部", **override}


def test_visit_is_recorded_in_the_register_under_its_visitor(sc: Scenario, session: Session) -> None:
    sc.start(KEY, visit(sc), "cs_manager")
    sc.assert_ended("closed")
    [row] = quality.visits(session)
    assert (row.visitor, row.customer, row.feedback) == ("cs_manager", "华信公司", "空调偏冷")


def test_visit_needing_follow_up_goes_to_the_supervisor(sc: Scenario) -> None:
    sc.start(KEY, visit(sc, follow_up_needed=True), "cs_assistant")
    assert sc.inbox("cs_supervisor") == ["follow_up_feedback"]
    sc.do("follow_up_feedback", "cs_supervisor", {"follow_up_result": "温度已调整"})
    sc.assert_ended("closed")


def test_only_managers_and_assistants_record_visits_and_not_in_the_future(sc: Scenario) -> None:
    with pytest.raises(Forbidden):
        sc.start(KEY, visit(sc), "cleaner")
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, visit(sc, visited_at=(sc.now + timedelta(hours=1)).isoformat()), "cs_assistant")
    assert set(refused.value.fields) == {"visited_at"}
