"""A register-writing service is bound to the processes allowed to write that register (issue 20)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from department import services
from department.domain import DOMAIN
from engine import domain
from engine.actor import Actor
from engine.definitions import compile_process
from engine.domain import Domain
from engine.errors import InvalidBpmn, ProcessFailure
from engine.runtime import Engine
from engine.store.models import ProcessInstance
from tests.bpmn_builder import Process, field_xml
from tests.conftest import T0

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def issuing(key: str, script: str = "balance = ledger_issue('alcohol', 1)") -> str:
    """Return a process of this key whose first step runs the script."""
    p = Process(key)
    p.start()
    p.script("take", script)
    p.user("done", "cs_foreman", [])
    p.end("end")
    p.chain("start", "take", "done", "end")
    return p.xml()


def test_a_script_of_another_process_writing_the_ledger_is_refused_at_deploy_naming_the_element() -> None:
    with pytest.raises(InvalidBpmn) as err:
        compile_process(issuing("fake_issue"))
    [problem] = err.value.problems
    assert problem.element_id == "take"
    assert "'ledger_issue'" in problem.message and "hazardous_goods_issuance" in problem.message


def test_conditions_and_form_rules_calling_a_bound_service_are_refused_too() -> None:
    p = Process("fake_archive")
    p.start()
    p.user("fill", "cs_manager", [field_xml("n", "number")],
           rules="<pf:rule field='n' expr=\"ledger_return('alcohol', n) &gt; 0\" "
                 "message-zh='x' message-en='x'/>")
    p.xor("g", default="plain")
    p.end("archived")
    p.end("end")
    p.chain("start", "fill", "g")
    p.flow("g", "archived", condition="sealed_key_archive()")
    p.flow("g", "end", fid="plain")
    with pytest.raises(InvalidBpmn) as err:
        compile_process(p.xml())
    refused = {(pr.element_id, name) for pr in err.value.problems
               for name in ("ledger_return", "sealed_key_archive") if f"'{name}'" in pr.message}
    assert ("fill", "ledger_return") in refused
    assert any(name == "sealed_key_archive" for _, name in refused), err.value.problems


def test_the_stock_balance_read_stays_open_to_every_process() -> None:
    compile_process(issuing("stock_report", "left = stock_balance('alcohol')"))


def test_the_shipped_processes_call_only_what_they_are_bound_to() -> None:
    for path in sorted(PROCESSES.glob("*.bpmn")):
        compile_process(path.read_bytes(), path.name)


def test_a_version_deployed_before_the_binding_fails_at_run_time_and_writes_nothing(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    services.stock_in(session, "alcohol", 10, "delivery", "cs_foreman", T0)
    with domain.installed(replace(DOMAIN, service_processes={})):
        engine.deploy(session, issuing("old_issue"))
    with pytest.raises(ProcessFailure, match="may not call 'ledger_issue'") as err:
        engine.start(session, "old_issue", {}, people["cs_assistant"])
    assert "hazardous_goods_issuance" in err.value.message
    session.commit()
    inst = session.scalars(select(ProcessInstance)).one()
    assert inst.status == "error" and inst.error["element_id"] == "take"
    assert [ln.kind for ln in services.ledger_lines(session)] == ["stock_in"]


def test_a_binding_must_name_a_service() -> None:
    with pytest.raises(ValueError, match="binds unknown service 'nothing'"):
        Domain(name="d", roles=DOMAIN.roles, service_processes={"nothing": frozenset({"x"})})


@pytest.mark.parametrize(("name", "owner"), [("anomaly_record('closed')", "service_quality_anomaly"),
                                             ("proposal_record('adopted')", "customer_proposal"),
                                             ("survey_record()", "satisfaction_survey"),
                                             ("visit_record()", "customer_visit")])
def test_the_quality_registers_are_written_only_by_their_own_process(name: str, owner: str) -> None:
    with pytest.raises(InvalidBpmn) as err:
        compile_process(issuing("fake_quality", f"done_it = {name}"))
    [problem] = err.value.problems
    assert problem.element_id == "take" and owner in problem.message


def test_what_a_process_may_call_follows_the_installed_domain(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    services.stock_in(session, "alcohol", 10, "delivery", "cs_foreman", T0)
    with domain.installed(replace(DOMAIN, service_processes={})):
        engine.deploy(session, issuing("old_issue"))
        assert engine.start(session, "old_issue", {}, people["cs_assistant"]).status == "running"
        session.commit()
    # The same process under the shipped domain, which binds the ledger to hazardous_goods_issuance.
    with pytest.raises(ProcessFailure, match="may not call 'ledger_issue'"):
        engine.start(session, "old_issue", {}, people["cs_assistant"])
