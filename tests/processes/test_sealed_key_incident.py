"""Scenario tests for sealed_key_incident (封存鑰匙異常報告): any staff reports, 客服部 handles and signs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import keys
from department.registers import sealed_key_incidents
from engine.errors import Forbidden, InvalidData
from tests.processes.helpers import Scenario
from tests.processes.keys_helpers import seal_unit

KEY = "sealed_key_incident"


@pytest.fixture(autouse=True)
def sealed_unit(sc: Scenario) -> None:
    """Unit 15F-1501's key is sealed under F-000123 (moved in through key_custody)."""
    seal_unit(sc, "15F-1501", "F-000123")


def report(sc: Scenario, **override: Any) -> dict[str, Any]:
    """Return a start form: a guard found a broken seal on patrol."""
    return {"unit": "15F-1501", "incident_type": "opened",
            "discovered_at": (sc.now - timedelta(minutes=10)).isoformat(), "old_seal_number": "F-000123",
            "account": "夜間巡邏發現鑰匙櫃封條斷裂", **override}


def handling() -> dict[str, Any]:
    """Return the supervisor's handling record."""
    return {"findings": "封條老化斷裂，鑰匙完好", "customer_notified": True,
            "actions_taken": "通知客戶並重新封存", "new_seal_number": "F-000789"}


def test_guard_reports_a_broken_seal_and_customer_service_handles_and_signs(
        sc: Scenario, session: Session) -> None:
    sc.start(KEY, report(sc), "security_guard")
    assert sc.inbox("cs_supervisor") == ["handle_incident"]
    sc.do("handle_incident", "cs_supervisor", handling())
    assert sc.inbox("cs_manager") == ["manager_sign"]
    sc.advance(hours=1)
    sc.do("manager_sign", "cs_manager", {"sign_note": "同意"})
    assert sc.path() == ["handle_incident", "manager_sign"]
    sc.assert_ended("closed")
    [record] = sealed_key_incidents(session)
    assert (record["unit"], record["incident_type"], record["reported_by"]) == ("15F-1501", "opened",
                                                                               "security_guard")
    assert (record["old_seal_number"], record["new_seal_number"]) == ("F-000123", "F-000789")
    assert (record["handled_by"], record["signed_by"], record["signed_at"]) == ("cs_supervisor", "cs_manager",
                                                                                sc.now)


def test_a_reporting_manager_does_not_sign_their_own_report(sc: Scenario) -> None:
    sc.start(KEY, report(sc, incident_type="lost"), "cs_manager")
    sc.do("handle_incident", "cs_supervisor", handling())
    with pytest.raises(Forbidden):
        sc.do("manager_sign", "cs_manager", {})
    assert sc.open_tasks() == ["manager_sign"]


def test_report_needs_an_account_and_a_past_discovery_time(sc: Scenario) -> None:
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(sc, account=""), "cleaner")
    assert set(refused.value.fields) == {"account"}
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(sc, discovered_at=(sc.now + timedelta(hours=1)).isoformat()), "cleaner")
    assert set(refused.value.fields) == {"discovered_at"}


def test_a_handled_broken_seal_puts_the_new_seal_in_the_key_register(sc: Scenario, session: Session) -> None:
    sc.start(KEY, report(sc), "security_guard")
    sc.do("handle_incident", "cs_supervisor", handling())
    assert keys.seal_number(session, "15F-1501") == "F-000789"
    last = session.scalars(keys.history_query("15F-1501", newest_first=True)).first()
    assert last is not None and (last.event, last.instance_id) == ("seal_broken", sc.instance_id)
    assert keys.register_agrees(session) == []


def test_a_lost_sealed_key_is_marked_lost_in_the_register(sc: Scenario, session: Session) -> None:
    sc.start(KEY, report(sc, incident_type="lost"), "security_guard")
    sc.do("handle_incident", "cs_supervisor", {**handling(), "new_seal_number": None})
    assert keys.state(session, "15F-1501") == "lost"
    sc.do("manager_sign", "cs_manager", {})
    sc.assert_ended("closed")


def test_an_incident_needs_a_sealed_key_in_the_register(sc: Scenario) -> None:
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, report(sc, unit="16F-1601"), "security_guard")
    assert set(refused.value.fields) == {"unit"}
