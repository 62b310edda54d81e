"""Build small BPMN documents for tests without hand-writing XML."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
PF = "https://propertyflow.dev/schema/bpmn/1"


def field_xml(name: str, type_: str = "text", required: bool = False, **attrs: str) -> str:
    """Return one pf:field element; `options` is a space-separated list for choices."""
    options = attrs.pop("options", "")
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    body = "".join(f'<pf:option value="{o}" label-zh="{o}" label-en="{o}"/>' for o in options.split())
    req = ' required="true"' if required else ""
    return (f'<pf:field name="{name}" type="{type_}"{req} label-zh="{name}" label-en="{name}"{extra}>'
            f"{body}</pf:field>")


@dataclass
class Process:
    """A single-pool process drawn one element at a time."""

    key: str
    lanes: dict[str, list[str]] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    starters: str | None = None
    extra: str = ""
    _flow_count: int = 0

    def _lane(self, lane: str | None, element: str) -> None:
        if lane:
            self.lanes.setdefault(lane, []).append(element)

    def start(self, eid: str = "start", fields: list[str] | None = None, lane: str | None = None,
              timer: str | None = None) -> Process:
        """Add a start event with an optional start form."""
        form = f"<bpmn:extensionElements><pf:form>{''.join(fields)}</pf:form></bpmn:extensionElements>" \
            if fields is not None else ""
        timer_xml = f"<bpmn:timerEventDefinition><bpmn:timeDate>{escape(timer)}</bpmn:timeDate>" \
                    "</bpmn:timerEventDefinition>" if timer else ""
        self.nodes.append(f'<bpmn:startEvent id="{eid}">{form}{timer_xml}</bpmn:startEvent>')
        self._lane(lane, eid)
        return self

    def user(self, eid: str, lane: str, fields: list[str] | None = None, *, name: str | None = None,
             assignee: str | None = None, role: str | None = None, separation: str = "",
             rules: str = "") -> Process:
        """Add a user task in a lane with a form."""
        ext = f'<pf:label lang="en">{eid} en</pf:label>'
        if assignee:
            ext += f"<pf:assignee>{escape(assignee)}</pf:assignee>"
        if role:
            ext += f"<pf:role>{escape(role)}</pf:role>"
        if separation:
            ext += f"<pf:separation>{separation}</pf:separation>"
        ext += f"<pf:form>{''.join(fields or [])}{rules}</pf:form>"
        self.nodes.append(f'<bpmn:userTask id="{eid}" name="{escape(name or eid)}">'
                          f"<bpmn:extensionElements>{ext}</bpmn:extensionElements></bpmn:userTask>")
        self._lane(lane, eid)
        return self

    def script(self, eid: str, source: str, lane: str | None = None) -> Process:
        """Add a script task."""
        self.nodes.append(f'<bpmn:scriptTask id="{eid}" name="{eid}" scriptFormat="python">'
                          f"<bpmn:script>{escape(source)}</bpmn:script></bpmn:scriptTask>")
        self._lane(lane, eid)
        return self

    def xor(self, eid: str, default: str | None = None, lane: str | None = None) -> Process:
        """Add an exclusive gateway."""
        d = f' default="{default}"' if default else ""
        self.nodes.append(f'<bpmn:exclusiveGateway id="{eid}"{d}/>')
        self._lane(lane, eid)
        return self

    def parallel(self, eid: str, lane: str | None = None) -> Process:
        """Add a parallel gateway."""
        self.nodes.append(f'<bpmn:parallelGateway id="{eid}"/>')
        self._lane(lane, eid)
        return self

    def end(self, eid: str = "end", outcome: str | None = None, lane: str | None = None) -> Process:
        """Add an end event with an optional outcome."""
        ext = f"<bpmn:extensionElements><pf:outcome>{outcome}</pf:outcome></bpmn:extensionElements>" \
            if outcome else ""
        self.nodes.append(f'<bpmn:endEvent id="{eid}">{ext}</bpmn:endEvent>')
        self._lane(lane, eid)
        return self

    def timer(self, eid: str, attached: str, *, duration: str | None = None, date: str | None = None,
              interrupting: bool = False) -> Process:
        """Add a timer boundary event on a task."""
        body = f"<bpmn:timeDuration>{escape(duration)}</bpmn:timeDuration>" if duration else \
            f"<bpmn:timeDate>{escape(date or '')}</bpmn:timeDate>"
        self.nodes.append(f'<bpmn:boundaryEvent id="{eid}" attachedToRef="{attached}" '
                          f'cancelActivity="{str(interrupting).lower()}">'
                          f"<bpmn:timerEventDefinition>{body}</bpmn:timerEventDefinition></bpmn:boundaryEvent>")
        return self

    def flow(self, source: str, target: str, condition: str | None = None, fid: str | None = None) -> str:
        """Connect two elements; return the flow id."""
        self._flow_count += 1
        fid = fid or f"f{self._flow_count}_{source}_{target}"
        cond = f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>" \
            if condition else ""
        self.flows.append(f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
                          f"{cond}</bpmn:sequenceFlow>")
        return fid

    def chain(self, *ids: str) -> Process:
        """Connect elements in sequence."""
        for a, b in itertools.pairwise(ids):
            self.flow(a, b)
        return self

    def xml(self) -> str:
        """Return the BPMN document."""
        lanes = "".join(
            f'<bpmn:lane id="lane_{role}" name="{role}">'
            + "".join(f"<bpmn:flowNodeRef>{e}</bpmn:flowNodeRef>" for e in elements)
            + "</bpmn:lane>" for role, elements in self.lanes.items())
        lane_set = f'<bpmn:laneSet id="ls_{self.key}">{lanes}</bpmn:laneSet>' if lanes else ""
        starters = f'<pf:starters roles="{self.starters}"/>' if self.starters else ""
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:pf="{PF}" id="defs_{self.key}" '
            f'targetNamespace="http://example.org/test">'
            f'<bpmn:process id="{self.key}" name="{self.key}" isExecutable="true">'
            f'<bpmn:extensionElements><pf:label lang="en">{self.key}</pf:label>{starters}'
            f"</bpmn:extensionElements>{lane_set}{''.join(self.nodes)}{''.join(self.flows)}{self.extra}"
            f"</bpmn:process></bpmn:definitions>"
        )
