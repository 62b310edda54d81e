"""Camunda 7 files become this product's extensions, with a report of what could not be converted."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine import definitions
from engine.convert.camunda import CAMUNDA_NS, PF_NS, convert, juel_to_python
from engine.errors import InvalidBpmn

LEAK = Path(__file__).resolve().parents[1] / "data" / "camunda" / "leak_report.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "pf": PF_NS}


@pytest.fixture(scope="module")
def converted() -> tuple[object, object]:
    conversion = convert(LEAK.read_bytes())
    return conversion, etree.fromstring(conversion.xml)


def test_the_converted_file_deploys_with_its_roles_forms_and_deadline(converted: tuple) -> None:
    conversion, _ = converted
    compiled = definitions.compile_process(conversion.xml, "leak_report.bpmn")
    tasks = compiled.model["tasks"]
    assert tasks["Activity_assess"]["role"] == "cs_supervisor"
    assert tasks["Activity_fix"]["role"] == "technician"
    assert tasks["Activity_fix"]["assignee_expr"] == "initiator"
    assert compiled.model["timers"]["Activity_assess_deadline"] == {
        "attached_to": "Activity_assess",
        "interrupting": False,
    }


def test_candidate_groups_become_lanes_named_by_role(converted: tuple) -> None:
    _, root = converted
    lanes = {
        lane.get("name"): [r.text for r in lane.findall("bpmn:flowNodeRef", NS)]
        for lane in root.iterfind(".//bpmn:lane", NS)
    }
    assert lanes == {"cs_supervisor": ["Activity_assess"], "technician": ["Activity_fix"]}


def test_form_fields_keep_type_options_required_and_limits(converted: tuple) -> None:
    _, root = converted
    fields = {f.get("name"): f for f in root.iterfind(".//pf:field", NS)}
    assert {n: f.get("type") for n, f in fields.items()} == {
        "unit": "text",
        "floors": "integer",
        "severity": "choice",
        "urgent": "boolean",
        "visit_on": "date",
    }
    assert fields["unit"].get("required") == "true" and fields["unit"].get("max-length") == "20"
    assert fields["floors"].get("min") == "1" and fields["floors"].get("default") == "1"
    assert [(o.get("value"), o.get("label-zh")) for o in fields["severity"]] == [
        ("minor", "輕微"),
        ("major", "嚴重"),
    ]
    assert fields["severity"].get("required") == "true"


def test_conditions_and_due_date_are_rewritten(converted: tuple) -> None:
    _, root = converted
    conditions = {
        f.get("id"): f.findtext("bpmn:conditionExpression", namespaces=NS)
        for f in root.iterfind(".//bpmn:sequenceFlow", NS)
    }
    assert conditions["Flow_major"] == 'severity == "major" and not urgent'
    assert conditions["Flow_minor"] == 'severity != "major" or urgent'
    assert (
        root.findtext(".//bpmn:boundaryEvent/bpmn:timerEventDefinition/bpmn:timeDuration", namespaces=NS)
        == "P1DT2H"
    )


def test_nothing_of_camunda_is_left_and_what_was_dropped_is_reported(converted: tuple) -> None:
    conversion, root = converted
    assert CAMUNDA_NS not in conversion.xml.decode()
    assert not [a for e in root.iter() for a in e.attrib if CAMUNDA_NS in a]
    dropped = {(line.element_id, line.message.split(" ")[0]) for line in conversion.not_converted}
    assert dropped == {("Activity_mail", "Java/external"), ("Activity_assess", "camunda:executionListener")}
    assert any(line.element_id == "Flow_major" for line in conversion.converted)


@pytest.mark.parametrize(
    ("juel", "python"),
    [
        ("${amount > 100}", "amount > 100"),
        ("${a eq 'x' and not b}", "a == 'x' and not b"),
        ('${execution.getVariable("paid") == true}', "paid == True"),
        ("${x != null || y}", "x != None or y"),
        ("${myBean.check(x)}", None),
        ("${a ? b : c}", None),
        ("amount > 1", None),
    ],
)
def test_juel_expressions_become_python_or_are_refused(juel: str, python: str | None) -> None:
    assert juel_to_python(juel) == python


def test_an_unconvertible_condition_is_reported_and_left_for_the_deploy_check() -> None:
    source = (
        LEAK.read_text("utf-8")
        .replace("${severity != &quot;major&quot; || urgent}", "${svc.minor(severity)}")
        .replace('${severity != "major" || urgent}', "${svc.minor(severity)}")
    )
    conversion = convert(source)
    reasons = [str(line.message) for line in conversion.not_converted if line.element_id == "Flow_minor"]
    assert reasons == ["condition '${svc.minor(severity)}' could not be converted: rewrite it in Python"]
    with pytest.raises(InvalidBpmn) as refused:
        definitions.compile_process(conversion.xml, "leak_report.bpmn")
    assert any(p.element_id == "Flow_minor" for p in refused.value.problems)


@pytest.mark.parametrize(
    "xml",
    [
        b"<not-closed",
        b"<root/>",
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
    ],
)
def test_a_file_that_is_no_camunda_process_is_refused_with_the_reason(xml: bytes) -> None:
    with pytest.raises(InvalidBpmn) as refused:
        convert(xml)
    assert refused.value.problems and refused.value.problems[0].message
