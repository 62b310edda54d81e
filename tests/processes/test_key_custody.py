"""Scenario tests for key_custody (單元鑰匙交接與封存): move-in handover and sealing, move-out release."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from department import keys
from engine.errors import InvalidData
from tests.processes.helpers import Scenario
from tests.processes.keys_helpers import handover_form, seal_unit

KEY = "key_custody"


def test_move_in_hands_over_seals_with_a_witness_and_the_manager_signs(
        sc: Scenario, session: Session) -> None:
    sc.start(KEY, {"unit": "15F-1501", "movement": "move_in", "customer_name": "陳先生"}, "cs_assistant")
    sc.do("handover_keys", "cs_assistant", handover_form())
    assert keys.state(session, "15F-1501") == "in_custody"  # held from the handover, before the seal
    sc.do("seal_keys", "cs_assistant", {"seal_number": "F-000123", "witness": "cs_assistant2"})
    assert sc.inbox("cs_manager") == ["manager_sign"]
    sc.do("manager_sign", "cs_manager", {"sign_note": "已核對"})
    assert sc.path() == ["handover_keys", "seal_keys", "manager_sign"]
    sc.assert_ended("completed")
    [row] = keys.statuses(session, "15F-1501")
    assert (row.status, row.seal_number) == ("sealed", "F-000123")
    history = session.scalars(keys.history_query("15F-1501")).all()
    assert [(h.event, h.instance_id, h.actor) for h in history] == [
        ("handover", sc.instance_id, "cs_assistant"), ("seal", sc.instance_id, "cs_manager")]
    assert keys.register_agrees(session) == []


def test_sealing_needs_a_witness_other_than_the_sealer(sc: Scenario) -> None:
    sc.start(KEY, {"unit": "15F-1501", "movement": "move_in", "customer_name": "陳先生"}, "cs_assistant")
    sc.do("handover_keys", "cs_assistant", handover_form())
    with pytest.raises(InvalidData) as refused:
        sc.do("seal_keys", "cs_assistant", {"seal_number": "F-1", "witness": "cs_assistant"})
    assert set(refused.value.fields) == {"witness"}
    assert sc.open_tasks() == ["seal_keys"]


def test_handover_needs_the_unit_inspected(sc: Scenario) -> None:
    sc.start(KEY, {"unit": "15F-1501", "movement": "move_in", "customer_name": "陳先生"}, "cs_assistant")
    with pytest.raises(InvalidData) as refused:
        sc.do("handover_keys", "cs_assistant", handover_form(unit_inspected=False))
    assert set(refused.value.fields) == {"unit_inspected"}


def test_move_out_checks_the_seal_and_releases_the_key(sc: Scenario, session: Session) -> None:
    seal_unit(sc, "15F-1501", "F-000123")
    sc.start(KEY, {"unit": "15F-1501", "movement": "move_out", "customer_name": "陳先生"}, "cs_assistant")
    with pytest.raises(InvalidData) as refused:
        sc.do("release_key", "cs_assistant", {"seal_checked": "F-999", "received_by": "陳先生"})
    assert set(refused.value.fields) == {"seal_checked"}
    sc.do("release_key", "cs_assistant", {"seal_checked": "F-000123", "received_by": "陳先生"})
    sc.assert_ended("completed")
    [row] = keys.statuses(session, "15F-1501")
    assert (row.status, row.seal_number, row.holder) == ("released", None, "陳先生")
    assert keys.register_agrees(session) == []


@pytest.mark.parametrize(("movement", "sealed_first"), [("move_in", True), ("move_out", False)])
def test_start_is_refused_on_unit_when_the_register_forbids_the_move(
        sc: Scenario, movement: str, sealed_first: bool) -> None:
    if sealed_first:
        seal_unit(sc, "15F-1501", "F-000123")
    with pytest.raises(InvalidData) as refused:
        sc.start(KEY, {"unit": "15F-1501", "movement": movement, "customer_name": "陳先生"}, "cs_assistant")
    assert set(refused.value.fields) == {"unit"}


def test_register_check_names_a_status_its_history_does_not_add_up_to(sc: Scenario, session: Session) -> None:
    seal_unit(sc, "15F-1501", "F-000123")
    assert keys.register_agrees(session) == []
    row = keys.status_of(session, "15F-1501")
    assert row is not None
    row.seal_number = "F-FORGED"  # a change made outside the processes
    session.flush()
    [problem] = keys.register_agrees(session)
    assert "15F-1501" in problem and "F-FORGED" in problem and "F-000123" in problem
