"""A small process touching every kind of stored fact, and a database of instances in every status."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import department.domain
from department import services
from engine import domain
from engine.errors import ProcessFailure
from engine.runtime import Actor, Engine
from engine.store.models import TaskRow
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0

KEY = "audit_trail"


@contextlib.contextmanager
def scenario_may_issue() -> Iterator[None]:
    """Bind ledger_issue also to the scenario's process, which issues from the register, in the block."""
    # Its key is frozen in the first release's data (tests/data/schema_r0001_data.json); the app
    # factory installs department.domain.DOMAIN again, so the test domain replaces it there.
    served = department.domain.DOMAIN
    bound = {**served.service_processes,
             "ledger_issue": served.service_processes["ledger_issue"] | {KEY}}
    department.domain.DOMAIN = replace(served, service_processes=bound)
    try:
        with domain.installed(department.domain.DOMAIN):
            yield
    finally:
        department.domain.DOMAIN = served


def audit_process() -> str:
    """Return: start → first (deadline 15 min → follow-up) → issue from the register → second → end."""
    p = Process(KEY, starters="cs_assistant")
    p.start(fields=[field_xml("unit", required=True), field_xml("qty", "number", required=True)])
    p.user("first", "cs_assistant", [field_xml("note")])
    p.timer("late", "first", duration="PT15M")
    p.user("follow_up", "cs_supervisor", [])
    p.script("take", "balance = ledger_issue('alcohol', qty)")
    p.user("second", "cs_manager", [field_xml("approved", "boolean", required=True)],
           separation="<pf:notStarter/>")
    p.end("end", outcome="closed")
    p.end("fu_end")
    p.chain("start", "first", "take", "second", "end")
    p.chain("late", "follow_up", "fu_end")
    return p.xml()


@dataclass
class Cases:
    """Instance ids by what happened to them."""

    waiting: int  # first open, its deadline timer waiting
    escalated: int  # deadline fired: first overdue + follow-up open
    advanced: int  # first done, ledger issued, second open
    completed: int
    terminated: int
    failed: int  # the register script failed: status error


def open_task(session: Session, instance_id: int, element: str) -> TaskRow:
    """Return the open task row of an element."""
    return session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                 TaskRow.element_id == element,
                                                 TaskRow.status == "open")).one()


def populate(session: Session, engine: Engine, people: dict[str, Actor]) -> Cases:
    """Deploy the process and leave one instance in each interesting state; commits."""
    engine.deploy(session, audit_process(), filename="audit_trail.bpmn")
    services.stock_in(session, "alcohol", 10, "delivery", "cs_foreman", T0)
    starter, worker, manager = people["cs_assistant"], people["cs_assistant2"], people["cs_manager"]

    def start(qty: float = 2) -> int:
        return engine.start(session, KEY, {"unit": "A-1201", "qty": qty}, starter).id

    waiting, escalated, advanced, completed, terminated = (start() for _ in range(5))
    engine.fire_timers(session, escalated, now=T0 + timedelta(minutes=16))
    for inst in (advanced, completed):
        engine.complete(session, open_task(session, inst, "first").id, {"note": "ok"}, worker)
    engine.complete(session, open_task(session, completed, "second").id, {"approved": True}, manager)
    engine.terminate(session, terminated, people["admin"], "duplicate request")
    session.commit()
    failed = start(qty=100)  # more than the stock: the script fails when first is done
    session.commit()
    with contextlib.suppress(ProcessFailure):
        engine.complete(session, open_task(session, failed, "first").id, {}, worker)
    session.commit()
    return Cases(waiting, escalated, advanced, completed, terminated, failed)
