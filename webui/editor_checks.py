"""Checks the editor adds to the deploy check: elements no flow reaches or leaves."""

from __future__ import annotations

from flask_babel import gettext as _
from lxml import etree

from engine.errors import Problem

from .element_titles import BPMN_NS, parse_quietly

NO_INCOMING_NEEDED = {"startEvent", "boundaryEvent"}
NO_OUTGOING_NEEDED = {"endEvent"}
FLOW_NODE = ("task", "event", "gateway", "subprocess", "callactivity")


def unconnected(xml_text: str) -> list[Problem]:
    """Return a problem for each flow node of the process that no sequence flow enters or leaves."""
    root = parse_quietly(xml_text)
    if root is None:
        return []
    problems: list[Problem] = []
    for process in root.iter(f"{{{BPMN_NS}}}process", f"{{{BPMN_NS}}}subProcess"):
        flows = process.findall(f"{{{BPMN_NS}}}sequenceFlow")
        sources = {f.get("sourceRef") for f in flows}
        targets = {f.get("targetRef") for f in flows}
        for node in process:
            if not isinstance(node.tag, str):
                continue
            tag, eid = etree.QName(node).localname, node.get("id") or ""
            if not tag.lower().endswith(FLOW_NODE):
                continue
            if tag not in NO_INCOMING_NEEDED and eid not in targets:
                problems.append(Problem(eid, _("No flow leads to this element: connect it or remove it.")))
            if tag not in NO_OUTGOING_NEEDED and eid not in sources and not (
                    tag == "boundaryEvent" and (node.get("cancelActivity") or "true") == "false"):
                problems.append(Problem(eid, _("No flow leaves this element: connect it to what comes "
                                               "next.")))
    return problems
