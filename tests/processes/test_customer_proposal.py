"""Scenario tests for customer_proposal (客戶提案): adopt, reject, hold with its two-month limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from department import quality
from engine.errors import InvalidData
from tests.processes.helpers import Scenario

KEY = "customer_proposal"


def proposal(sc: Scenario, **override: Any) -> dict[str, Any]:
    """Return a start form: a tenant writes in suggesting a bicycle rack."""
    return {"customer": "华信公司", "unit": "12F", "channel": "email",
            "received_at": (sc.now - timedelta(hours=1)).isoformat(), "content": "建议在地库增设自行车架",
            "department": "engineering", **override}


def line(session: Session) -> Any:
    """Return the one proposal register line, read afresh."""
    session.expire_all()
    [row] = quality.proposals(session)
    return row


def test_adopted_proposal_is_implemented_and_the_customer_told_when_and_how(
        sc: Scenario, session: Session) -> None:
    sc.start(KEY, proposal(sc), "cs_assistant")
    assert line(session).status == "received"
    assert sc.task("analyse").role == "engineering_dispatcher"
    sc.do("analyse", "engineering_dispatcher", {"decision": "adopt", "analysis": "可行"})
    sc.do("implement", "engineering_dispatcher", {"implementation_date": "2026-12-01",
                                                  "measures": "增设20个车位"})
    sc.do("inform_adopted", "cs_assistant", {"adopt_notice": "电话告知12月1日实施"})
    assert sc.path() == ["analyse", "implement", "inform_adopted"]
    sc.assert_ended("closed")
    assert (line(session).status, line(session).decided_at) == ("adopted", sc.now)


def test_adopted_proposal_referred_to_the_committee_is_graded_and_rewarded(
        sc: Scenario, session: Session) -> None:
    sc.start(KEY, proposal(sc), "cs_assistant")
    sc.do("analyse", "engineering_dispatcher", {"decision": "adopt", "analysis": "可行"})
    sc.do("implement", "engineering_dispatcher", {"implementation_date": "2026-12-01",
                                                  "measures": "增设车位"})
    sc.do("inform_adopted", "cs_assistant", {"adopt_notice": "已告知", "refer_to_committee": True})
    sc.do("committee_grading", "general_manager", {"grade": "A", "reward": 500})
    sc.assert_ended("closed")
    assert (line(session).grade, line(session).reward) == ("A", 500.0)


def test_rejected_proposal_is_told_and_thanked(sc: Scenario, session: Session) -> None:
    sc.start(KEY, proposal(sc, department="customer_service"), "cs_assistant")
    sc.do("analyse", "cs_supervisor", {"decision": "reject", "analysis": "与消防规定冲突"})
    sc.do("thank_customer", "cs_assistant", {"thanks_notice": "电话说明原因并致谢"})
    assert sc.path() == ["analyse", "thank_customer"]
    sc.assert_ended("rejected")
    assert line(session).status == "rejected"


def test_held_proposal_is_told_why_and_decided_later(sc: Scenario, session: Session) -> None:
    sc.start(KEY, proposal(sc), "cs_assistant")
    sc.do("analyse", "engineering_dispatcher", {"decision": "hold", "analysis": "需预算",
                                                "hold_reason": "待明年预算"})
    assert line(session).status == "held"
    sc.do("inform_hold", "cs_assistant", {"hold_notice": "已告知保留原因"})
    sc.advance(days=20)
    sc.do("reanalyse", "engineering_dispatcher", {"decision": "adopt", "analysis": "预算已批"})
    sc.do("implement", "engineering_dispatcher", {"implementation_date": "2027-01-10", "measures": "增设"})
    sc.do("inform_adopted", "cs_assistant", {"adopt_notice": "已告知"})
    sc.assert_ended("closed")
    assert line(session).status == "adopted"


def test_hold_past_two_months_escalates_to_the_manager(sc: Scenario) -> None:
    sc.start(KEY, proposal(sc), "cs_assistant")
    sc.do("analyse", "engineering_dispatcher", {"decision": "hold", "analysis": "需预算",
                                                "hold_reason": "预算"})
    sc.do("inform_hold", "cs_assistant", {"hold_notice": "已告知"})
    due = sc.due("reanalyse")
    assert timedelta(days=59) <= due - sc.now <= timedelta(days=62)
    assert not sc.fire(due - timedelta(seconds=1))
    assert sc.fire(due + timedelta(seconds=1))
    sc.assert_escalated("reanalyse", "hold_overdue")
    assert sc.inbox("cs_manager") == ["follow_up_hold"]


def test_a_hold_needs_its_reason(sc: Scenario) -> None:
    sc.start(KEY, proposal(sc), "cs_assistant")
    with pytest.raises(InvalidData) as refused:
        sc.do("analyse", "engineering_dispatcher", {"decision": "hold", "analysis": "需预算"})
    assert set(refused.value.fields) == {"hold_reason"}
    assert sc.open_tasks() == ["analyse"]


def test_register_counts_proposals_per_customer_and_year(sc: Scenario, session: Session) -> None:
    for customer in ("华信公司", "华信公司", "李先生"):
        sc.start(KEY, proposal(sc, customer=customer), "cs_assistant")
    session.expire_all()
    counts = quality.proposals_per_customer(quality.proposals(session))
    assert [(c["customer"], c["year"], c["count"]) for c in counts] == [("华信公司", 2026, 2),
                                                                        ("李先生", 2026, 1)]
