"""Read the product's model out of a BPMN document: roles, titles, forms, assignment, deadlines."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from engine import domain
from engine.errors import Problem
from engine.forms.parser import PF_NS, parse_form
from engine.messages import Message, msg
from engine.notify.bpmn import read_notify
from engine.sandbox.scripting import names_read
from engine.spiff.parser import is_iso_duration, normalise_timer_expression, timer_value_problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN_NS, "pf": PF_NS}
OUTCOMES = ("closed", "completed", "rejected")

# Tags whose flow nodes the engine knows how to run (anything else is refused in an executable process).
FLOW_NODES = {
    "startEvent", "endEvent", "userTask", "task", "manualTask", "scriptTask", "serviceTask",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "subProcess", "callActivity",
    "sendTask", "receiveTask", "transaction", "adHocSubProcess",
}
PF_TASK_CHILDREN = {"label", "assignee", "role", "separation", "form", "notify"}

Checker = Callable[[str], list[str]]


def local(tag: Any) -> str:
    """Return an element's tag without its namespace."""
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def role_of_lane(name: str | None) -> str | None:
    """Return the role id a lane name ends with, or None."""
    words = (name or "").split()
    return words[-1] if words and domain.current().is_known_role(words[-1]) else None


def _pf(node: Any, name: str) -> Any:
    """Return the first pf:NAME child of node's extensionElements, or None."""
    found = node.xpath(f"./bpmn:extensionElements/pf:{name}", namespaces=NS)
    return found[0] if found else None


def _text(node: Any) -> str:
    """Return an element's stripped text."""
    return (node.text or "").strip() if node is not None else ""


class ModelReader:
    """Collect the model of one executable process and every problem with it."""

    def __init__(self, process: Any, check_expression: Checker, check_script: Checker, *,
                 check_services: bool = True) -> None:
        self.process = process
        self.check_services = check_services
        self.check_expression = check_expression
        self.check_script = check_script
        self.problems: list[Problem] = []
        self.lanes: dict[str, str | None] = {}
        # Indexed once: a search of the whole tree per flow end made thousands of flows take seconds.
        self.by_id: dict[str, Any] = {}
        self.flows_from: dict[str, list[Any]] = {}
        for node in process.iterdescendants():
            if not isinstance(node.tag, str):
                continue  # a comment or processing instruction names nothing
            if node.get("id"):
                self.by_id.setdefault(node.get("id"), node)
            if node.tag == f"{{{BPMN_NS}}}sequenceFlow":
                self.flows_from.setdefault(node.get("sourceRef") or "", []).append(node)

    def problem(self, element_id: str | None, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(element_id, message))

    def expression(self, element_id: str | None, where: str, source: str, *, script: bool = False) -> None:
        """Check one expression or script in the sandbox compiler."""
        if not source.strip():
            self.problem(element_id, msg("{where} is empty", where=where))
            return
        checker = self.check_script if script else self.check_expression
        reasons = checker(source)
        for reason in reasons:
            self.problem(element_id, msg("{where}: {reason}", where=where, reason=reason))
        if reasons or not self.check_services:
            return
        # A register-writing service is bound to the processes allowed to write that register.
        key, served = self.process.get("id") or "", domain.current()
        for name in served.refused_services(key, names_read(source, script=script)):
            self.problem(element_id, msg(
                "{where} calls '{name}', which this process may not call (it is bound to {allowed})",
                where=where, name=name, allowed=", ".join(sorted(served.service_processes[name]))))

    def read(self) -> dict[str, Any]:
        """Return the model dict stored with the version."""
        proc = self.process
        key = proc.get("id")
        label = _pf(proc, "label")
        starters_node = _pf(proc, "starters")
        starters = (starters_node.get("roles") or "").split() if starters_node is not None else []
        for role in starters:
            if not domain.current().is_known_role(role):
                self.problem(key, msg("pf:starters names unknown role '{role}'", role=role))
        self._read_lanes()
        model: dict[str, Any] = {
            "process_key": key,
            "name_zh": proc.get("name") or key,
            "name_en": _text(label) or proc.get("name") or key,
            "documentation": _text(proc.find(f"{{{BPMN_NS}}}documentation")),
            "starters": starters,
            "start_form": None,
            "tasks": {},
            "outcomes": {},
            "timers": {},
            "elements": {},
            "notify": {},  # element id → pf:notify (engine.notify.bpmn)
        }
        for node in proc.iter():
            tag = local(node.tag)
            if node.getparent() is None or (tag not in FLOW_NODES and tag != "sequenceFlow"):
                continue
            self._read_node(node, tag, model)
        if not model["elements"] or not any(
            e["type"] == "startEvent" for e in model["elements"].values()
        ):
            self.problem(key, msg("the process has no start event"))
        return model

    def _read_lanes(self) -> None:
        """Map flow nodes to lane roles and check each lane names a known role."""
        for lane in self.process.iter(f"{{{BPMN_NS}}}lane"):
            role = role_of_lane(lane.get("name"))
            if role is None and lane.find(f"{{{BPMN_NS}}}childLaneSet") is None:
                known = ", ".join(domain.current().role_ids)
                self.problem(lane.get("id"), msg("lane name '{name}' does not end with a role id ({roles})",
                                                 name=lane.get("name") or "", roles=known))
            for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
                self.lanes[_text(ref)] = role

    def _exists(self, ref: str | None) -> bool:
        """Tell whether an id names a flow node of this process."""
        return bool(ref) and ref in self.by_id

    def _read_node(self, node: Any, tag: str, model: dict[str, Any]) -> None:
        """Record one flow node or sequence flow of the process."""
        eid = node.get("id")
        if tag == "sequenceFlow":
            for end in ("sourceRef", "targetRef"):
                if not self._exists(node.get(end)):
                    self.problem(eid, msg("{end} '{ref}' names no element of this process", end=end,
                                          ref=node.get(end) or ""))
            cond = node.find(f"{{{BPMN_NS}}}conditionExpression")
            if cond is not None:
                self.expression(eid, msg("condition"), _text(cond))
            return
        model["elements"][eid] = {"type": tag, "name": node.get("name") or ""}
        label = _pf(node, "label")
        if label is not None:
            model["elements"][eid]["name_en"] = _text(label)
        notify = read_notify(node, lambda problem: self.problem(eid, problem))
        if notify is not None:
            model["notify"][eid] = notify
        if tag == "userTask":
            model["tasks"][eid] = self._read_user_task(node, eid)
        elif tag in ("task", "manualTask"):
            model["tasks"][eid] = self._read_manual_task(node, eid)
        elif tag == "startEvent" and _pf(node, "form") is not None:
            form, problems = parse_form(_pf(node, "form"), eid)
            for p in problems:
                self.problem(eid, p)
            model["start_form"] = form.to_dict() if form else None
            for where, source in form.expressions() if form else ():
                self.expression(eid, where, source)
        elif tag == "endEvent":
            outcome = _text(_pf(node, "outcome"))
            if outcome:
                if outcome not in OUTCOMES:
                    self.problem(eid, msg("pf:outcome '{outcome}' is not one of {choices}", outcome=outcome,
                                          choices=", ".join(OUTCOMES)))
                model["outcomes"][eid] = outcome
        elif tag == "scriptTask":
            script = node.find(f"{{{BPMN_NS}}}script")
            self.expression(eid, msg("script"), _text(script), script=True)
        elif tag == "boundaryEvent":
            self._read_boundary(node, eid, model)
        if tag in ("intermediateCatchEvent", "startEvent", "boundaryEvent"):
            self._check_timer(node, eid)
        if tag in ("exclusiveGateway", "inclusiveGateway"):
            self._check_gateway(node, eid)

    def _read_user_task(self, node: Any, eid: str) -> dict[str, Any]:
        """Read title, role, assignment, separation rules and form of a user task."""
        ext = node.find(f"{{{BPMN_NS}}}extensionElements")
        for child in ext if ext is not None else ():
            if etree.QName(child).namespace == PF_NS and local(child.tag) not in PF_TASK_CHILDREN:
                self.problem(eid, msg("unknown element pf:{name}", name=local(child.tag)))
        label = _text(_pf(node, "label"))
        if not node.get("name"):
            self.problem(eid, msg("user task has no name (the Chinese title)"))
        if not label:
            self.problem(eid, msg("user task has no <pf:label lang=\"en\"> (the English title)"))
        role = self.lanes.get(eid)
        role_expr = _text(_pf(node, "role")) or None
        if role is None and role_expr is None:
            self.problem(eid, msg("user task lies in no lane naming a role"))
        if role_expr:
            self.expression(eid, "pf:role", role_expr)
        assignee = _text(_pf(node, "assignee")) or None
        if assignee:
            self.expression(eid, "pf:assignee", assignee)
        separation = _pf(node, "separation")
        not_starter, not_performer_of = False, []
        if separation is not None:
            for rule in separation:
                name = local(rule.tag)
                if name == "notStarter":
                    not_starter = True
                elif name == "notPerformerOf" and rule.get("task"):
                    not_performer_of.append(rule.get("task"))
                elif isinstance(rule.tag, str):
                    self.problem(eid, msg("unknown separation rule pf:{name} (use pf:notStarter, "
                                          "pf:notPerformerOf task=…)", name=name))
        form_node = _pf(node, "form")
        form_dict = None
        if form_node is None:
            self.problem(eid, msg("user task has no <pf:form> (use <pf:form/> for a form with no fields)"))
        else:
            form, problems = parse_form(form_node, eid)
            for p in problems:
                self.problem(eid, p)
            if form is not None:
                form_dict = form.to_dict()
                for where, source in form.expressions():
                    self.expression(eid, where, source)
                for fdef in form.fields:
                    if fdef.role is not None and not domain.current().is_known_role(fdef.role):
                        self.problem(eid, msg("pf:field '{field}' names unknown role '{role}'",
                                              field=fdef.name, role=fdef.role))
        return {
            "title_zh": node.get("name") or eid,
            "title_en": label or node.get("name") or eid,
            "role": role,
            "role_expr": role_expr,
            "assignee_expr": assignee,
            "not_starter": not_starter,
            "not_performer_of": not_performer_of,
            "form": form_dict,
        }

    def _read_manual_task(self, node: Any, eid: str) -> dict[str, Any]:
        """Read a plain or manual task: Spiff waits for a person, so it needs a role too."""
        role = self.lanes.get(eid)
        if role is None:
            self.problem(eid, msg("{tag} waits for a person but lies in no lane naming a role",
                                  tag=local(node.tag)))
        label = _text(_pf(node, "label"))
        form_node = _pf(node, "form")
        form_dict = None
        if form_node is not None:
            form, problems = parse_form(form_node, eid)
            for p in problems:
                self.problem(eid, p)
            form_dict = form.to_dict() if form else None
        return {"title_zh": node.get("name") or eid, "title_en": label or node.get("name") or eid,
                "role": role, "role_expr": None, "assignee_expr": None, "not_starter": False,
                "not_performer_of": [], "form": form_dict}

    def _read_boundary(self, node: Any, eid: str, model: dict[str, Any]) -> None:
        """Remember timer boundary events: they mark deadlines of the task they are attached to."""
        if not self._exists(node.get("attachedToRef")):
            self.problem(eid, msg("attached to '{ref}', which is no element of this process",
                                  ref=node.get("attachedToRef") or ""))
        if node.find(f"{{{BPMN_NS}}}timerEventDefinition") is not None:
            model["timers"][eid] = {
                "attached_to": node.get("attachedToRef"),
                "interrupting": (node.get("cancelActivity") or "true").lower() == "true",
            }

    def _check_timer(self, node: Any, eid: str) -> None:
        """Check a timer's expression compiles; a bare ISO literal is accepted."""
        timer = node.find(f"{{{BPMN_NS}}}timerEventDefinition")
        if timer is None:
            return
        parts = [c for c in timer if local(c.tag) in ("timeDate", "timeDuration", "timeCycle")]
        if not parts:
            self.problem(eid, msg("timer has no timeDate, timeDuration or timeCycle"))
            return
        literal_problem = timer_value_problem(local(parts[0].tag), parts[0].text or "")
        if literal_problem is not None:
            self.problem(eid, literal_problem)
            return
        source = normalise_timer_expression(parts[0].text)
        if re.fullmatch(r"P[0-9A-Z.,]*", source.strip().upper()) and not source.startswith("'"):
            self.problem(eid, msg("timer {kind} '{value}' is not an ISO-8601 duration or datetime "
                                  "(e.g. PT15M) nor an expression", kind=local(parts[0].tag),
                                  value=source.strip()))
            return
        self.expression(eid, msg("timer {kind}", kind=local(parts[0].tag)), source)
        kind_problem = _timer_kind_problem(local(parts[0].tag), source)
        if kind_problem is not None:
            self.problem(eid, kind_problem)
            return
        if (local(parts[0].tag) == "timeDuration" and source.startswith("'")
                and not is_iso_duration(source.strip("'"))):
            self.problem(eid, msg("timer duration {value} is not an ISO-8601 duration", value=source))

    def _check_gateway(self, node: Any, eid: str) -> None:
        """A diverging gateway needs a way out: a default flow or conditions on all flows."""
        outgoing = node.findall(f"{{{BPMN_NS}}}outgoing")
        named = [self.by_id.get(_text(o)) for o in outgoing]
        flows = [f for f in named if f is not None and f.tag == f"{{{BPMN_NS}}}sequenceFlow"]
        if not flows:
            flows = self.flows_from.get(eid, [])
        if len(flows) < 2:
            return
        default = node.get("default")
        unconditioned = [
            f.get("id") for f in flows
            if f.find(f"{{{BPMN_NS}}}conditionExpression") is None and f.get("id") != default
        ]
        if unconditioned:
            self.problem(eid, msg("outgoing flows without a condition and not the default: {flows}",
                                  flows=", ".join(unconditioned)))


# What the engine's clock functions give (engine/context.py), so a timer of the wrong kind is refused
# at deploy instead of failing every start at run time.
MOMENT_FUNCTIONS = frozenset({"now", "minutes", "hours", "working_hours", "next_working_morning",
                              "minutes_after", "working_hours_after", "end_of_working_day"})
YES_NO_FUNCTIONS = frozenset({"in_working_hours"})


def _timer_kind_problem(kind: str, source: str) -> Message | None:
    """Return why a timer's expression gives the wrong kind of value for its kind, or None."""
    try:
        body = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None  # reported by the expression check
    called = body.func.id if isinstance(body, ast.Call) and isinstance(body.func, ast.Name) else None
    literal = body.value.strip() if isinstance(body, ast.Constant) and isinstance(body.value, str) else None
    if kind == "timeDuration" and called in MOMENT_FUNCTIONS:
        return msg("a duration timer (timeDuration) needs a duration such as PT15M, but {call}(…) gives "
                   "a moment: make it a moment timer (timeDate)", call=called)
    if kind == "timeDate" and literal is not None and is_iso_duration(literal.lstrip("+-")):
        return msg("a moment timer (timeDate) needs a date or a moment such as working_hours(24), not the "
                   "duration '{value}': make it a duration timer (timeDuration)", value=literal)
    if called in YES_NO_FUNCTIONS:
        return msg("a timer needs a moment or a duration, but {call}() gives yes or no", call=called)
    return None


def read_model(process: Any, check_expression: Checker, check_script: Checker, *,
               check_services: bool = True) -> tuple[dict[str, Any], list[Problem]]:
    """Return the model of an executable process element and the problems found in it."""
    reader = ModelReader(process, check_expression, check_script, check_services=check_services)
    model = reader.read()
    return model, reader.problems
