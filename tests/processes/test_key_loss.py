"""Scenario tests for key_loss (鑰匙遺失、損壞與拾交): report, filing, lock change, new keys; found keys."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import keys
from engine.errors import InvalidData
from tests.processes.helpers import Scenario
from tests.processes.keys_helpers import take_in

KEY = "key_loss"


def report(**override: Any) -> dict[str, Any]:
    """Return a start form: a vacant unit's key lost by a staff member."""
    return {"report_type": "lost", "key_kind": "unit", "key_id": "12F-1203",
            "report_reference": "BG-2026-007", "account": "巡查後鑰匙遺失", **override}


def filed(sc: Scenario) -> None:
    """Report, manager's receipt and security's filing."""
    sc.do("manager_receive", "cs_manager", {"manager_note": "請保安部備案"})
    sc.do("file_with_security", "security_guard", {"filing_reference": "BA-88", "precautions": "加強巡查"})


@pytest.mark.parametrize("report_type", ["lost", "damaged"])
def test_lost_key_is_filed_the_lock_changed_and_new_keys_registered(
        sc: Scenario, session: Session, report_type: str) -> None:
    take_in(sc, "12F-1203")
    sc.start(KEY, report(report_type=report_type), "housekeeping")
    assert sc.inbox("cs_manager") == ["manager_receive"]
    filed(sc)
    assert keys.state(session, "12F-1203") == "lost"
    sc.do("approve_lock_change", "security_guard", {"lock_change_approved": True})
    sc.do("change_lock", "engineering_dispatcher", {"new_lock_reference": "L-5521", "new_key_count": 3})
    with pytest.raises(InvalidData) as refused:
        sc.do("receive_new_keys", "cs_assistant", {"keys_received": 2})
    assert set(refused.value.fields) == {"keys_received"}
    sc.do("receive_new_keys", "cs_assistant", {"keys_received": 3})
    assert sc.path() == ["manager_receive", "file_with_security", "approve_lock_change", "change_lock",
                         "receive_new_keys"]
    sc.assert_ended("closed")
    [row] = keys.statuses(session, "12F-1203")
    assert (row.status, row.holder) == ("in_custody", "cs_assistant")
    events = [line.event for line in session.scalars(keys.history_query("12F-1203"))]
    assert events == ["handover", "lost", "lock_changed"]
    assert keys.register_agrees(session) == []


def test_refused_lock_change_leaves_the_key_reported_lost(sc: Scenario, session: Session) -> None:
    take_in(sc, "12F-1203")
    sc.start(KEY, report(), "housekeeping")
    filed(sc)
    sc.do("approve_lock_change", "security_guard", {"lock_change_approved": False})
    sc.assert_ended("rejected")
    assert keys.state(session, "12F-1203") == "lost"


def test_found_key_is_recorded_by_security(sc: Scenario, session: Session) -> None:
    sc.start(KEY, report(report_type="found", key_id="不明鑰匙-3", report_reference=None), "cleaner")
    assert sc.inbox("security_guard") == ["record_found"]
    sc.do("record_found", "security_guard", {"found_location": "B1 停車場", "handed_in_by": "保潔員 李"})
    sc.assert_ended("closed")
    [line] = session.scalars(keys.history_query("不明鑰匙-3")).all()
    assert (line.event, line.status_after) == ("found", "none")
    assert keys.register_agrees(session) == []


def test_a_loss_needs_a_written_report_and_a_registered_key(sc: Scenario) -> None:
    take_in(sc, "12F-1203")
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(report_reference=None), "housekeeping")
    assert set(refused.value.fields) == {"report_reference"}
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(key_id="99F-9999"), "housekeeping")
    assert set(refused.value.fields) == {"key_id"}
