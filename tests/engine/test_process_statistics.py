"""Per-element statistics of a version, checked against figures worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidData, NotFound
from engine.process_statistics import median, p90, version_statistics
from engine.runtime import Actor, Engine
from engine.store.models import TaskRow
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0

M = timedelta(minutes=1)


def triage() -> str:
    """Return: review (cs_assistant) → urgent? → escalate (cs_foreman) → end, else → closed."""
    p = Process("triage")
    p.start()
    p.user("review", "cs_assistant", [field_xml("urgent", "boolean", required=True)])
    p.xor("urgent_gw", default="calm")
    p.user("escalate", "cs_foreman", [field_xml("note")])
    p.end("end")
    p.end("closed")
    p.chain("start", "review", "urgent_gw")
    p.flow("urgent_gw", "escalate", "urgent")
    p.flow("urgent_gw", "closed", fid="calm")
    p.chain("escalate", "end")
    return p.xml()


def task_of(session: Session, instance_id: int, element: str) -> str:
    """Return the id of an instance's open task at an element."""
    return str(session.scalar(select(TaskRow.id).where(TaskRow.instance_id == instance_id,
                                                       TaskRow.element_id == element,
                                                       TaskRow.status == "open")))


@pytest.fixture
def measured(session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    """Run three cases at known moments, and a fourth outside the period."""
    engine.deploy(session, triage())
    cs, foreman = people["cs_assistant"], people["cs_foreman"]

    def case(started_min: int, claim_min: int | None, done_min: int, urgent: bool) -> int:
        inst = engine.start(session, "triage", {}, cs, now=T0 + started_min * M)
        task = task_of(session, inst.id, "review")
        if claim_min is not None:
            engine.claim(session, task, cs, now=T0 + claim_min * M)
        engine.complete(session, task, {"urgent": urgent}, cs, now=T0 + done_min * M)
        session.commit()
        return inst.id

    first = case(0, 10, 30, True)  # waits 10, works 20, then escalates
    engine.complete(session, task_of(session, first, "escalate"), {}, foreman, now=T0 + 90 * M)
    case(1, None, 41, False)  # waits 40 unclaimed
    case(2, 22, 52, False)  # waits 20, works 30
    case(60 * 24 * 2, None, 60 * 24 * 2 + 5, True)  # started outside the period
    session.commit()


def test_statistics_match_the_hand_computed_figures(session: Session, measured: None) -> None:
    stats = version_statistics(session, "triage", 1, T0, T0 + timedelta(days=1)).to_dict()
    assert stats["cases"] == 3
    by_id = {e["element_id"]: e for e in stats["elements"]}
    review = by_id["review"]
    assert (review["count"], review["cases"], review["case_share"]) == (3, 3, 1.0)
    # waiting 10, 40, 20 min → median 20, p90 = 3rd of 3 = 40; working 20, 30 → median 25, p90 30.
    assert review["waiting"] == {"count": 3, "median_s": 1200.0, "p90_s": 2400.0}
    assert review["working"] == {"count": 2, "median_s": 1500.0, "p90_s": 1800.0}
    escalate = by_id["escalate"]
    assert (escalate["count"], escalate["cases"], escalate["case_share"]) == (1, 1, 1 / 3)
    assert escalate["waiting"] == {"count": 1, "median_s": 3600.0, "p90_s": 3600.0}
    assert escalate["working"]["count"] == 0
    assert stats["paths"] == [
        {"gateway": "urgent_gw", "target": "closed", "count": 2, "share": 2 / 3},
        {"gateway": "urgent_gw", "target": "escalate", "count": 1, "share": 1 / 3},
    ]


def test_percentiles_use_the_middle_and_the_nearest_rank() -> None:
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert p90([float(v) for v in range(1, 11)]) == 9.0
    assert p90([5.0]) == 5.0 and p90([]) is None and median([]) is None


def test_an_unknown_version_and_a_backwards_period_are_refused(session: Session, measured: None) -> None:
    with pytest.raises(NotFound):
        version_statistics(session, "triage", 7, T0, T0 + M)
    with pytest.raises(InvalidData) as err:
        version_statistics(session, "triage", 1, T0, T0 - M)
    assert "to" in err.value.fields
