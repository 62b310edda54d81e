"""The engine serves whichever domain is installed: its roles, its service functions, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from department.domain import DOMAIN
from engine import domain
from engine.domain import ADMIN, PROCESS_OWNER, Domain, Role, ServiceContext
from engine.errors import InvalidBpmn
from engine.runtime import Engine
from engine.store import queries
from engine.store.inbox import role_holders
from engine.store.models import HistoryEvent, TaskRow
from engine.users import create_user
from tests.bpmn_builder import Process, field_xml
from tests.conftest import add_user


def water(ctx: ServiceContext, litres: float) -> float:
    """Log one watering of the task's bed; return the litres given so far."""
    ctx.before_write()
    bed = ctx.task_data()["bed"]
    ctx.service_calls.append({"operation": "water", "bed": bed, "litres": litres, "by": ctx.actor,
                              "instance": ctx.instance_id})
    return float(litres) * 2


GARDEN = Domain(
    name="garden",
    roles=(
        Role("gardener", "园丁", "園丁", "Gardener"),
        Role("head_gardener", "园长", "園長", "Head gardener", implies=frozenset({"gardener"}),
             observer=True),
        Role(PROCESS_OWNER, "流程负责人", "流程負責人", "Process owner"),
        Role(ADMIN, "管理员", "管理員", "Administrator"),
    ),
    services={"water": water},
    demo_accounts=(("gardener", "demo-gardener", ("gardener",)),),
)


@pytest.fixture
def garden() -> Iterator[Domain]:
    """Serve the garden instead of the department for one test."""
    with domain.installed(GARDEN) as served:
        yield served
    assert domain.current() is DOMAIN


def watering(lane: str = "gardener") -> str:
    """Return a process: pick a bed, a script waters it, a gardener confirms."""
    p = Process("watering")
    p.start(fields=[field_xml("bed", "text", required=True)])
    p.script("pour", "given = water(3)")
    p.user("confirm", lane, [field_xml("wet", "boolean")])
    p.end("end")
    p.chain("start", "pour", "confirm", "end")
    return p.xml()


def test_another_domain_deploys_and_runs_a_process_with_its_roles_and_service(
        garden: Domain, session: Session, engine: Engine) -> None:
    head = add_user(session, "ada", "head_gardener")
    add_user(session, "ben", "gardener")
    engine.deploy(session, watering())
    inst = engine.start(session, "watering", {"bed": "roses"}, head)
    task = session.scalars(select(TaskRow).where(TaskRow.instance_id == inst.id)).one()
    assert task.role == "gardener"
    assert role_holders(session, "gardener") == ["ada", "ben"]  # the head gardener may do it too
    engine.complete(session, task.id, {"wet": True}, head)
    session.commit()
    assert inst.status == "completed" and inst.data["given"] == 6.0
    details = session.scalars(select(HistoryEvent.details).where(
        HistoryEvent.instance_id == inst.id, HistoryEvent.element_id == "pour")).one()
    assert details == {"service_calls": [{"operation": "water", "bed": "roses", "litres": 3, "by": "ada",
                                          "instance": inst.id}]}
    assert queries.may_observe(head) and not queries.may_observe(add_user(session, "cy", "gardener"))


def test_a_lane_naming_a_department_role_is_refused_under_another_domain(
        garden: Domain, session: Session, engine: Engine) -> None:
    with pytest.raises(InvalidBpmn) as err:
        engine.deploy(session, watering("cs_assistant"))
    problems = {p.element_id: p.message for p in err.value.problems}
    assert "(gardener, head_gardener, process_owner, admin)" in problems["lane_cs_assistant"]
    assert problems["confirm"] == "user task lies in no lane naming a role"


def test_the_department_does_not_know_the_other_domains_roles_or_functions(
        session: Session, engine: Engine) -> None:
    with pytest.raises(InvalidBpmn, match="does not end with a role id"):
        engine.deploy(session, watering())
    assert "water" not in domain.current().services and "ledger_issue" in domain.current().services


def test_accounts_take_only_the_installed_domains_roles(garden: Domain, session: Session) -> None:
    create_user(session, "dora", "long-enough-pw", ["head_gardener"])
    with pytest.raises(ValueError, match="unknown role"):
        create_user(session, "eve", "long-enough-pw", ["cs_manager"])


def test_a_service_name_is_reserved_for_form_fields(garden: Domain, session: Session, engine: Engine) -> None:
    p = Process("clash")
    p.start(fields=[field_xml("water", "number")])
    p.end("end")
    p.chain("start", "end")
    with pytest.raises(InvalidBpmn, match="'water' is reserved"):
        engine.deploy(session, p.xml())


@pytest.mark.parametrize(("change", "reason"), [
    ({"roles": GARDEN.roles[:2]}, "system role 'process_owner' is missing"),
    ({"roles": (*GARDEN.roles, Role("gardener", "x", "x", "x"))}, "a role id appears twice"),
    ({"roles": (Role("x", "x", "x", "x", implies=frozenset({"nobody"})), *GARDEN.roles[2:])},
     "implies unknown role 'nobody'"),
    ({"services": {"now": water}}, "would hide an engine function"),
])
def test_an_inconsistent_domain_is_refused_when_built(change: dict[str, Any], reason: str) -> None:
    fields: dict[str, Any] = {"name": "garden", "roles": GARDEN.roles, **change}
    with pytest.raises(ValueError, match=reason):
        Domain(**fields)


def test_the_engine_refuses_to_work_before_a_domain_is_installed(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    actor = add_user(session, "fay", "gardener")
    monkeypatch.setattr(domain, "_installed", None)
    with pytest.raises(domain.DomainNotInstalled, match="install"):
        queries.may_observe(actor)
