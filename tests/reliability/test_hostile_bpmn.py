"""Hostile and foreign BPMN: refused at deploy with a reason naming the element, or stopped in its own
instance at run time under time and memory limits — never a crash, and nothing else changes."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import definitions
from engine.bpmn_model import BPMN_NS, read_model
from engine.errors import InvalidBpmn, ProcessFailure
from engine.integrity import check_all
from engine.runtime import Actor, Engine
from engine.sandbox.scripting import check_expression, check_script
from engine.spiff.state import dump_state, load_state
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, TaskRow

from .scenario import audit_process

HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"
MIWG = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "miwg"
# No wall-clock bound here: the failure message proves the engine's budget stopped the runaway step, and
# pytest-timeout ends a hung test; durations on a loaded machine are not a property of the code.
RUN_PEAK_BYTES = 200_000_000

# file: (words in one of the reasons, the element that reason must name; None for whole-file problems)
REFUSED: dict[str, tuple[str, str | None]] = {
    "not_xml.bpmn": ("not well-formed XML", None),
    "empty.bpmn": ("not well-formed XML", None),
    "binary_garbage.bpmn": ("not well-formed XML", None),
    "truncated.bpmn": ("not well-formed XML", None),
    "wrong_encoding.bpmn": ("Invalid bytes in character encoding", None),
    "html_root.bpmn": ("root element is html", None),
    "wrong_namespace.bpmn": ("not bpmn:definitions", None),
    "oversized.bpmn": ("the limit is 2000000", None),
    "deeply_nested.bpmn": ("Excessive depth", None),
    "doctype.bpmn": ("DOCTYPE", None),
    "external_entity.bpmn": ("entity declarations are not allowed", None),
    "billion_laughs.bpmn": ("entity declarations are not allowed", None),
    "parameter_entity.bpmn": ("entity declarations are not allowed", None),
    "schema_invalid_element.bpmn": ("teleportTask': This element is not expected", "f3"),
    "no_process.bpmn": ("exactly one executable process", None),
    "no_start_event.bpmn": ("no start event", "hostile"),
    "two_executable_processes.bpmn": ("found hostile, second", None),
    "non_executable_only.bpmn": ("found none", None),
    "bad_process_key.bpmn": ("letters, digits and '_'", "repair-dispatch.v2"),
    "duplicate_ids.bpmn": ("'review' is not a valid value of the atomic type 'xs:ID'", "f3"),
    "flow_to_missing_node.bpmn": ("targetRef 'ghost' names no element", "f3"),
    "call_missing_process.bpmn": ("'elsewhere' was not found", None),
    "service_task_operation.bpmn": ("serviceTask is not supported", "s1"),
    "xss_in_element_id.bpmn": ("not a valid value of the atomic type 'xs:ID'", "f3"),
    "unknown_lane_role.bpmn": ("'門衛 janitor' does not end with a role id", "lane_cs"),
    "unknown_starter_role.bpmn": ("unknown role 'hacker'", "hostile"),
    "user_task_in_no_lane.bpmn": ("lies in no lane naming a role", "review"),
    "missing_form.bpmn": ("has no <pf:form>", "review"),
    "missing_english_title.bpmn": ("English title", "review"),
    "unknown_pf_element.bpmn": ("unknown element pf:runAs", "review"),
    "unknown_separation_rule.bpmn": ("unknown separation rule pf:anyoneButMe", "review"),
    "bad_field_type.bpmn": ("unknown type 'password'", "review"),
    "bad_field_name.bpmn": ("must not start with '_'", "review"),
    "reserved_field_name.bpmn": ("reserved", "review"),
    "field_event_handler_attribute.bpmn": ("unknown attribute 'onfocus'", "review"),
    "choice_without_options.bpmn": ("without pf:option", "review"),
    "bad_outcome.bpmn": ("pf:outcome 'exploded'", "end"),
    "script_import.bpmn": ("import statements are not allowed", "s1"),
    "script_from_import.bpmn": ("import statements are not allowed", "s1"),
    "script_cdata_import.bpmn": ("import statements are not allowed", "s1"),
    "script_dunder_import.bpmn": ("'__import__'", "s1"),
    "script_open_file.bpmn": ("'open' is not allowed", "s1"),
    "script_dunder_escape.bpmn": ("'__class__'", "s1"),
    "script_getattr_escape.bpmn": ("'getattr' is not allowed", "s1"),
    "script_eval.bpmn": ("'eval' is not allowed", "s1"),
    "script_exec_compile.bpmn": ("'exec' is not allowed", "s1"),
    "script_globals.bpmn": ("'globals' is not allowed", "s1"),
    "script_class_definition.bpmn": ("class definitions are not allowed", "s1"),
    "script_syntax_error.bpmn": ("syntax error", "s1"),
    "condition_dunder.bpmn": ("'__globals__'", "f_cond"),
    "condition_import.bpmn": ("'__import__'", "f_cond"),
    "condition_statement.bpmn": ("syntax error", "f_cond"),
    "condition_empty.bpmn": ("condition is empty", "f_cond"),
    "assignee_escape.bpmn": ("'__class__'", "review"),
    "form_rule_open.bpmn": ("'open' is not allowed", "review"),
    "timer_syntax_error.bpmn": ("syntax error", "deadline"),
    "timer_forbidden_code.bpmn": ("'__import__'", "deadline"),
    "timer_without_definition.bpmn": ("no timeDate, timeDuration or timeCycle", "deadline"),
    "gateway_no_way_out.bpmn": ("without a condition and not the default: f2, f3", "gw"),
    "boundary_on_missing_task.bpmn": ("nowhere", "b"),
    "flow_from_missing_node.bpmn": ("phantom", "f9"),
    "field_role_unknown.bpmn": ("'root'", "review"),
    "timer_bad_duration.bpmn": ("PT15X", "deadline"),
    "timer_date_out_of_range.bpmn": ("outside the range a clock can reach", "deadline"),
    "timer_cycle_forever.bpmn": ("needs a repetition count", "deadline"),
    "timer_cycle_garbage.bpmn": ("is not R<count>/<duration>", "deadline"),
    "timer_cycle_too_often.bpmn": ("shorter than PT1M", "deadline"),
    "timer_fractional_years.bpmn": ("fraction", "deadline"),
    "timer_negative_duration.bpmn": ("cannot be negative", "deadline"),
    "timer_duration_beyond_horizon.bpmn": ("longer than 10 years", "deadline"),
    "timer_date_beyond_horizon.bpmn": ("more than 10 years ahead", "deadline"),
    "timer_cycle_beyond_horizon.bpmn": ("longer than 10 years", "deadline"),
    "plain_task_in_no_lane.bpmn": ("lane", "s1"),
}
# file: (words in the instance's error, the element it names; None when the engine names none)
FAILS_AT_RUN: dict[str, tuple[str, str | None]] = {
    "run_script_while_true.bpmn": ("was stopped", "s1"),  # the time or the step limit, whichever first
    "run_script_recursion.bpmn": ("recursed too deeply", "s1"),
    "run_script_huge_string.bpmn": ("would hold 10,000,000,000", "s1"),
    "run_script_huge_list.bpmn": ("would hold 1,000,000,000", "s1"),
    "run_script_doubling_list.bpmn": ("the limit is", "s1"),
    "run_script_huge_integer.bpmn": ("bits; the limit is", "s1"),
    "run_script_deep_data.bpmn": ("nested more than 100 levels deep", "s1"),
    "run_script_format_escape.bpmn": ("'.format' is not allowed", "s1"),
    "run_script_raises.bpmn": ("ZeroDivisionError", "s1"),
    "run_condition_huge_allocation.bpmn": ("would hold 10,000,000,000", "gw"),
    "run_condition_endless_sum.bpmn": ("range would hold", "gw"),
    "run_conditions_exhaust_the_unit_budget.bpmn": ("of this unit of work together ran", "gw"),
    "run_script_many_large_variables.bpmn": ("of task data in one unit of work; the limit is", "s1"),
    "run_timer_not_a_date.bpmn": ("'next tuesday-ish'", None),
    "run_timer_date_out_of_range.bpmn": ("outside the range a clock can reach", None),
    "run_timer_duration_beyond_horizon.bpmn": ("longer than 10 years", None),
    "run_timer_date_beyond_horizon.bpmn": ("more than 10 years ahead", None),
    "run_assignee_nobody.bpmn": ("'nobody_at_all' is not an active user", "review"),
    "run_role_unknown.bpmn": ("'janitor' is not a known role", "review"),
    "run_gateway_dead_end.bpmn": ("No conditions satisfied", "gw"),
    "run_endless_loop_of_steps.bpmn": ("automatic steps", None),  # step or time limit, whichever first
}
# Markup in a title is text: stored as written, escaped by whatever shows it (see the web tests).
ACCEPTED = {"ok_markup_in_titles.bpmn": "markup_titles",
            "ok_gateway_with_thousands_of_flows.bpmn": "many_flows"}


def corpus() -> list[str]:
    """Return the hostile file names."""
    return sorted(p.name for p in HOSTILE.glob("*.bpmn"))


@pytest.fixture
def bystander(session: Session, engine: Engine, people: dict[str, Actor]) -> int:
    """Deploy a good process and start an instance that must stay untouched."""
    engine.deploy(session, audit_process(), filename="audit_trail.bpmn")
    inst = engine.start(session, "audit_trail", {"unit": "B-2", "qty": 1}, people["cs_assistant"])
    session.commit()
    return inst.id


def snapshot(session: Session, instance_id: int) -> tuple[object, ...]:
    """Return what must not change: versions, the bystander's row, tasks and history."""
    session.expire_all()
    inst = session.get(ProcessInstance, instance_id)
    assert inst is not None
    tasks = sorted((r.id, r.status, r.assignee) for r in session.scalars(
        select(TaskRow).where(TaskRow.instance_id == instance_id)))
    events = session.scalar(select(func.count()).select_from(HistoryEvent).where(
        HistoryEvent.instance_id == instance_id))
    versions = sorted((v.process_key, v.version) for v in session.scalars(select(ProcessVersion)))
    return versions, inst.status, inst.row_version, inst.state, tuple(tasks), events


def test_the_corpus_is_large_and_every_file_has_an_expectation() -> None:
    expected = set(REFUSED) | set(FAILS_AT_RUN) | set(ACCEPTED)
    assert set(corpus()) == expected
    assert len(REFUSED) + len(FAILS_AT_RUN) >= 40
    assert (HOSTILE / "oversized.bpmn").stat().st_size > 2_000_000


def _refusal(session: Session, engine: Engine, name: str, bystander: int) -> InvalidBpmn:
    """Deploy a file that must be refused; prove nothing changed; return the refusal."""
    before = snapshot(session, bystander)
    with pytest.raises(InvalidBpmn) as refused:
        engine.deploy(session, (HOSTILE / name).read_bytes(), filename=name)
    session.rollback()
    assert snapshot(session, bystander) == before
    assert refused.value.filename == name and name in str(refused.value)
    return refused.value


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_file_is_refused_with_a_reason_naming_the_element(
        session: Session, engine: Engine, bystander: int, name: str) -> None:
    words, element = REFUSED[name]
    problems = _refusal(session, engine, name, bystander).problems
    assert any(words in p.message and p.element_id == element for p in problems), problems


@pytest.mark.parametrize("name", sorted(FAILS_AT_RUN))
def test_runaway_code_stops_its_own_instance_with_a_clear_error(
        session: Session, engine: Engine, people: dict[str, Actor], bystander: int, name: str) -> None:
    words, element = FAILS_AT_RUN[name]
    engine.deploy(session, (HOSTILE / name).read_bytes(), filename=name)
    session.commit()
    before = snapshot(session, bystander)
    tracemalloc.start()
    try:
        with pytest.raises(ProcessFailure) as failed:
            engine.start(session, "hostile", {}, people["cs_assistant"])
        session.commit()  # as callers do: the instance's error is kept
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < RUN_PEAK_BYTES, peak
    assert words in failed.value.message and failed.value.element_id == element, failed.value.message
    inst = session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == "hostile")).one()
    assert inst.status == "error" and inst.error is not None and words in inst.error["message"]
    assert snapshot(session, bystander) == before
    assert check_all(session) == []


def test_markup_in_titles_is_stored_as_text(session: Session, engine: Engine,
                                            people: dict[str, Actor]) -> None:
    name = "ok_markup_in_titles.bpmn"
    result = engine.deploy(session, (HOSTILE / name).read_bytes(), filename=name)
    inst = engine.start(session, result.process_key, {}, people["cs_assistant"])
    session.commit()
    assert result.process_key == ACCEPTED[name]
    assert inst.status == "running" and inst.title == "<script>alert('流程')</script>"


@pytest.mark.skipif(not MIWG.is_dir(), reason=f"foreign corpus not found at {MIWG}")
@pytest.mark.parametrize("path", sorted(MIWG.glob("*.bpmn")), ids=lambda p: p.name)
def test_foreign_diagram_deploys_or_is_refused_with_reasons(
        session: Session, engine: Engine, bystander: int, path: Path) -> None:
    before = snapshot(session, bystander)
    try:
        result = engine.deploy(session, path.read_bytes(), filename=path.name)
    except InvalidBpmn as refused:
        session.rollback()
        assert refused.problems and all(p.message for p in refused.problems)
        assert snapshot(session, bystander) == before
    else:
        session.commit()
        assert result.created and result.process_key


def _store_timer_value(session: Session, instance_id: int, value: str) -> None:
    """Write a timer due value straight into an instance's stored state, as an older engine could."""
    inst = session.get(ProcessInstance, instance_id)
    assert inst is not None
    version = session.get(ProcessVersion, inst.version_id)
    compiled = definitions.compiled_version(version)
    workflow = load_state(inst.state, inst.state_format, compiled.spec, compiled.subprocess_specs, None)
    timers = [t for t in workflow.event_manager.tasks.values()
              if isinstance(t.task_spec.event_definition, TimerEventDefinition)]
    assert timers
    for task in timers:
        task.internal_data["event_value"] = value
    inst.state = dump_state(workflow)
    inst.next_wakeup_at = datetime(2000, 1, 1, tzinfo=UTC)
    session.commit()


def test_a_stored_timer_date_outside_the_clock_is_a_finding_and_a_clean_failure(
        session: Session, engine: Engine, people: dict[str, Actor], bystander: int) -> None:
    broken = engine.start(session, "audit_trail", {"unit": "B-3", "qty": 1}, people["cs_assistant"]).id
    session.commit()
    _store_timer_value(session, bystander, "0001-01-01T00:00:00+14:00")
    _store_timer_value(session, broken, "0001-01-01T00:00:00+14:00")
    findings = check_all(session)  # reports each broken instance and goes on
    assert {f.instance_id for f in findings if f.kind == "timer" and "out of range" in f.message} == {
        bystander, broken}, findings
    with pytest.raises(ProcessFailure) as failed:
        engine.fire_timers(session, broken, now=datetime.now(UTC))
    session.commit()
    assert "out of range" in failed.value.message or "outside the range" in failed.value.message
    inst = session.get(ProcessInstance, broken)
    assert inst is not None and inst.status == "error"
    with pytest.raises(ProcessFailure):
        engine.retry(session, broken, people["admin"])


class _CountingElement(etree.ElementBase):
    """An element that records every search of its whole subtree."""

    searches: list[str] = []

    def xpath(self, path: str, **kwargs: Any) -> Any:  # type: ignore[override]
        """Record a subtree search, then search."""
        if path.startswith((".//", "//")):
            self.searches.append(path)
        return super().xpath(path, **kwargs)

    def find(self, path: Any, namespaces: Any = None) -> Any:  # type: ignore[override]
        """Record a subtree search, then search."""
        if str(path).startswith((".//", "//")):
            self.searches.append(str(path))
        return super().find(path, namespaces)

    def findall(self, path: Any, namespaces: Any = None) -> Any:  # type: ignore[override]
        """Record a subtree search, then search."""
        if str(path).startswith((".//", "//")):
            self.searches.append(str(path))
        return super().findall(path, namespaces)


def test_a_gateway_with_thousands_of_flows_is_checked_without_a_tree_search_per_flow(
        session: Session, engine: Engine, people: dict[str, Actor]) -> None:
    name = "ok_gateway_with_thousands_of_flows.bpmn"
    parser = etree.XMLParser(resolve_entities=False)
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(element=_CountingElement))
    root = etree.fromstring((HOSTILE / name).read_bytes(), parser)
    _CountingElement.searches = []
    _model, problems = read_model(root.find(f"{{{BPMN_NS}}}process"), check_expression, check_script)
    assert problems == []
    assert len(_CountingElement.searches) < 10, len(_CountingElement.searches)  # none per flow end
    result = engine.deploy(session, (HOSTILE / name).read_bytes(), filename=name)
    inst = engine.start(session, result.process_key, {}, people["cs_assistant"])
    session.commit()
    assert result.process_key == ACCEPTED[name] and inst.status == "completed"  # by the default flow
