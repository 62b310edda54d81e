"""Scenario tests for key_loan (鑰匙借用): approval, issue by the keeper, same-day return, the chase."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import keys
from department.key_registers import key_loan_rows
from engine.errors import Forbidden, InvalidData
from tests.processes.helpers import Scenario
from tests.processes.keys_helpers import seal_unit, take_in

KEY = "key_loan"


def request(**override: Any) -> dict[str, Any]:
    """Return a start form: a leasing agent borrows a vacant unit's key for a viewing."""
    return {"key_kind": "unit", "key_id": "12F-1203", "purpose": "viewing", "purpose_detail": "帶客看房",
            "borrower_department": "leasing", **override}


VIEWED = {"power_off": True, "windows_closed": True, "unit_locked": True}


def test_viewing_loan_is_approved_issued_and_returned_the_same_day(sc: Scenario, session: Session) -> None:
    take_in(sc, "12F-1203")
    sc.start(KEY, request(), "housekeeping")
    assert sc.inbox("project_manager") == ["approve_loan"]
    sc.do("approve_loan", "project_manager", {"approved": True})
    assert sc.inbox("cs_assistant") == ["issue_key"]
    sc.do("issue_key", "cs_assistant", {})
    [row] = keys.statuses(session, "12F-1203")
    assert (row.status, row.holder) == ("out", "housekeeping")
    sc.advance(hours=2)
    with pytest.raises(InvalidData) as refused:
        sc.do("return_key", "cs_assistant2", {"power_off": True, "windows_closed": True})
    assert set(refused.value.fields) == {"power_off"}
    sc.do("return_key", "cs_assistant2", {**VIEWED, "return_note": "已檢查"})
    assert sc.path() == ["approve_loan", "issue_key", "return_key"]
    sc.assert_ended("completed")
    [row] = keys.statuses(session, "12F-1203")
    assert (row.status, row.holder) == ("in_custody", "cs_assistant2")
    [line] = key_loan_rows(session)
    assert line[1:] == ["12F-1203", "看房：帶客看房", "housekeeping", line[4], "cs_assistant2"]
    assert keys.register_agrees(session) == []


def test_plant_room_key_goes_to_engineering_and_its_head_approves(sc: Scenario, session: Session) -> None:
    take_in(sc, "B1-配電房", "plant_room")
    sc.start(KEY, request(key_kind="plant_room", key_id="B1-配電房", purpose="maintenance",
                          borrower_department="engineering"), "technician")
    sc.do("approve_loan", "engineering_dispatcher", {"approved": True})
    assert sc.inbox("engineering_dispatcher") == ["issue_key"]
    assert sc.inbox("cs_assistant") == []
    sc.do("issue_key", "engineering_dispatcher", {})
    sc.do("return_key", "engineering_dispatcher", {})
    sc.assert_ended("completed")


def test_refused_loan_leaves_the_key_in_custody(sc: Scenario, session: Session) -> None:
    take_in(sc, "12F-1203")
    sc.start(KEY, request(borrower_department="customer_service"), "cs_assistant")
    with pytest.raises(Forbidden):
        sc.do("approve_loan", "cs_assistant", {"approved": True})
    sc.do("approve_loan", "cs_manager", {"approved": False})
    sc.assert_ended("rejected")
    assert keys.state(session, "12F-1203") == "in_custody"


def test_key_not_back_by_the_end_of_the_day_is_chased_by_the_keeper_next_morning(sc: Scenario) -> None:
    take_in(sc, "12F-1203")
    sc.start(KEY, request(), "housekeeping")
    sc.do("approve_loan", "project_manager", {"approved": True})
    sc.do("issue_key", "cs_assistant", {})
    due = sc.due("return_key")
    # Monday 10:00 Shanghai → the next working morning, Tuesday 08:00 Shanghai.
    assert due == sc.now + timedelta(hours=22)
    assert sc.fire(due - timedelta(seconds=1)) is False
    assert sc.fire(due + timedelta(seconds=1)) is True
    sc.assert_escalated("return_key", "return_overdue")
    assert sc.task("chase_return").assignee == "cs_assistant"
    sc.advance(hours=23)
    sc.do("chase_return", "cs_assistant", {"chase_note": "借用人外出，下午交回"})
    sc.do("return_key", "cs_assistant", VIEWED)
    sc.assert_ended("completed")


@pytest.mark.parametrize("state", ["unknown", "sealed", "out"])
def test_only_a_key_in_custody_can_be_lent(sc: Scenario, state: str) -> None:
    if state == "sealed":
        seal_unit(sc, "12F-1203", "F-1")
    elif state == "out":
        take_in(sc, "12F-1203")
        first = Scenario(sc.session, sc.engine, sc.people, sc.now)
        first.start(KEY, request(), "housekeeping")
        first.do("approve_loan", "project_manager", {"approved": True})
        first.do("issue_key", "cs_assistant", {})
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, request(), "housekeeping")
    assert set(refused.value.fields) == {"key_id"}
