"""The instance search's "overdue" filter follows the open tasks' deadlines and escalations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from engine.runtime import Actor, Engine
from engine.store import queries
from engine.store.models import ProcessInstance
from tests.conftest import T0
from tests.reliability.scenario import open_task, populate, scenario_may_issue


@pytest.fixture(autouse=True)
def _scenario_may_issue() -> Iterator[None]:
    """Let the shared scenario's process issue from the register."""
    with scenario_may_issue():
        yield


def overdue_ids(session: Session, admin: Actor, minutes: int, overdue: bool = True) -> set[int]:
    page = queries.search_instances(session, admin, T0 + timedelta(minutes=minutes), overdue=overdue,
                                    per_page=200)
    return {i.id for i in page.items}


def test_an_escalated_case_is_overdue_and_a_waiting_one_only_after_its_deadline(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    cases = populate(session, engine, people)
    admin = people["admin"]
    early = overdue_ids(session, admin, 1)
    assert cases.escalated in early and cases.waiting not in early
    late = overdue_ids(session, admin, 20)  # the first task's 15-minute deadline has passed
    assert {cases.escalated, cases.waiting} <= late
    assert not {cases.completed, cases.terminated} & late  # ended cases have no open deadline
    assert cases.waiting in overdue_ids(session, admin, 1, overdue=False)
    assert cases.escalated not in overdue_ids(session, admin, 1, overdue=False)


def test_finishing_the_late_task_clears_the_instance_deadline(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    cases = populate(session, engine, people)
    engine.complete(session, open_task(session, cases.escalated, "first").id, {"note": "ok"},
                    people["cs_assistant2"], now=T0 + timedelta(minutes=30))
    session.commit()
    inst = session.get(ProcessInstance, cases.escalated)
    assert inst is not None
    second = open_task(session, cases.escalated, "second")
    assert inst.due_at == second.due_at  # the next task's own deadline, or none
    assert (cases.escalated in overdue_ids(session, people["admin"], 31)) == (
        second.due_at is not None and second.due_at <= T0 + timedelta(minutes=31))
