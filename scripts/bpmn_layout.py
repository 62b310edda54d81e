"""Give a BPMN file's process a fresh diagram: one lane per role, nodes on a column grid, orthogonal flows.

Usage: python scripts/bpmn_layout.py processes/key_loan.bpmn [...]   (rewrites the files in place)
"""

from __future__ import annotations

import sys
from collections import defaultdict, deque
from pathlib import Path

from lxml import etree

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI"}
SIZES = {"userTask": (100, 80), "scriptTask": (100, 80), "serviceTask": (100, 80),
         "exclusiveGateway": (50, 50), "parallelGateway": (50, 50), "inclusiveGateway": (50, 50)}
EVENT = (36, 36)
COL, LANE_H, X0, LANE_X = 150, 160, 160, 130


def q(prefix: str, tag: str) -> str:
    """Return a Clark-notation tag."""
    return f"{{{NS[prefix]}}}{tag}"


def layout(path: Path) -> None:
    """Rewrite the file's BPMNDiagram from its process."""
    tree = etree.parse(str(path))
    root = tree.getroot()
    for old in root.findall(q("bpmndi", "BPMNDiagram")):
        root.remove(old)
    collab = root.find(q("bpmn", "collaboration"))
    participant = collab.find(q("bpmn", "participant"))
    process = root.find(q("bpmn", "process"))
    lanes = process.findall(f".//{q('bpmn', 'lane')}")
    lane_of = {ref.text: i for i, lane in enumerate(lanes) for ref in lane.findall(q("bpmn", "flowNodeRef"))}
    nodes = {el.get("id"): el for el in process if el.get("id") and etree.QName(el).localname not in (
        "sequenceFlow", "laneSet", "documentation", "extensionElements")}
    flows = [el for el in process if etree.QName(el).localname == "sequenceFlow"]
    boundaries = {nid: el.get("attachedToRef") for nid, el in nodes.items()
                  if etree.QName(el).localname == "boundaryEvent"}
    # Columns: breadth-first from the start events; a flow back to a placed node does not move it.
    succ: dict[str, list[str]] = defaultdict(list)
    for f in flows:
        succ[f.get("sourceRef")].append(f.get("targetRef"))
    col: dict[str, int] = {}
    queue = deque(n for n, el in nodes.items() if etree.QName(el).localname == "startEvent")
    for n in queue:
        col[n] = 0
    while queue:
        n = queue.popleft()
        for b, host in boundaries.items():
            if host == n and b not in col:
                col[b] = col[n]
                queue.append(b)
        for t in succ[n]:
            if t not in col:
                col[t] = col[n] + 1
                queue.append(t)
    for n in nodes:
        col.setdefault(n, 0)
    # Two nodes in one cell: push the later one right.
    taken: set[tuple[int, int]] = set()
    for n in sorted(nodes, key=lambda k: (col[k], list(nodes).index(k))):
        if n in boundaries:
            continue
        cell = (lane_of.get(n, 0), col[n])
        while cell in taken:
            cell = (cell[0], cell[1] + 1)
        col[n] = cell[1]
        taken.add(cell)
    box: dict[str, tuple[float, float, float, float]] = {}
    for n, el in nodes.items():
        if n in boundaries:
            continue
        w, h = SIZES.get(etree.QName(el).localname, EVENT)
        cx, cy = X0 + col[n] * COL + 50, lane_of.get(n, 0) * LANE_H + LANE_H / 2 + 60
        box[n] = (cx - w / 2, cy - h / 2, w, h)
    for b, host in boundaries.items():
        x, y, w, h = box[host]
        box[b] = (x + w - 28, y + h - 18, 36, 36)
    width = X0 + (max(col.values()) + 1) * COL + 60
    diagram = etree.SubElement(root, q("bpmndi", "BPMNDiagram"), id=f"BPMNDiagram_{process.get('id')}")
    plane = etree.SubElement(diagram, q("bpmndi", "BPMNPlane"), id=f"BPMNPlane_{process.get('id')}",
                             bpmnElement=collab.get("id"))

    def shape(eid: str, x: float, y: float, w: float, h: float, horizontal: bool = False) -> None:
        attrs = {"id": f"{eid}_di", "bpmnElement": eid}
        if horizontal:
            attrs["isHorizontal"] = "true"
        s = etree.SubElement(plane, q("bpmndi", "BPMNShape"), attrs)
        etree.SubElement(s, q("dc", "Bounds"), x=f"{x:g}", y=f"{y:g}", width=f"{w:g}", height=f"{h:g}")

    shape(participant.get("id"), 100, 60, width - 100, LANE_H * len(lanes), True)
    for i, lane in enumerate(lanes):
        shape(lane.get("id"), LANE_X, 60 + i * LANE_H, width - LANE_X, LANE_H, True)
    for n in nodes:
        shape(n, *box[n])
    for f in flows:
        s, t = box[f.get("sourceRef")], box[f.get("targetRef")]
        edge = etree.SubElement(plane, q("bpmndi", "BPMNEdge"), id=f"{f.get('id')}_di",
                                bpmnElement=f.get("id"))
        if f.get("sourceRef") in boundaries:
            points = [(s[0] + s[2] / 2, s[1] + s[3]), (s[0] + s[2] / 2, t[1] + t[3] / 2),
                      (t[0], t[1] + t[3] / 2)]
            if abs(points[1][1] - points[0][1]) < 1:
                points = [points[0], (t[0], points[0][1])]
        elif t[0] > s[0]:
            sx, sy, tx, ty = s[0] + s[2], s[1] + s[3] / 2, t[0], t[1] + t[3] / 2
            mx = tx - 25
            points = [(sx, sy), (tx, ty)] if abs(sy - ty) < 1 else [
                (sx, sy), (mx, sy), (mx, ty), (tx, ty)]
        else:  # a flow back: leave and enter from below, under both shapes
            low = max(s[1] + s[3], t[1] + t[3]) + 25
            points = [(s[0] + s[2] / 2, s[1] + s[3]), (s[0] + s[2] / 2, low), (t[0] + t[2] / 2, low),
                      (t[0] + t[2] / 2, t[1] + t[3])]
        for x, y in points:
            etree.SubElement(edge, q("di", "waypoint"), x=f"{x:g}", y=f"{y:g}")
    etree.indent(tree, space="  ")
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        layout(Path(arg))
