"""The shipped diagrams read at 100 % zoom: every element drawn, nothing overlapping, flows attached."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "processes").glob("*.bpmn"))
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
DC = "{http://www.omg.org/spec/DD/20100524/DC}"
DI = "{http://www.omg.org/spec/DD/20100524/DI}"
NOT_NODES = {"sequenceFlow", "laneSet", "documentation", "extensionElements", "association",
             "textAnnotation", "dataObject", "ioSpecification", "messageFlow"}
TASKS = {"task", "userTask", "scriptTask", "serviceTask", "manualTask", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity", "subProcess"}
BORDER_TOLERANCE = 3

Box = tuple[float, float, float, float]


def _load_layout_script() -> ModuleType:
    """Import scripts/bpmn_layout.py (not a package) for its text measure and its rewrite."""
    spec = importlib.util.spec_from_file_location("bpmn_layout", ROOT / "scripts" / "bpmn_layout.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bpmn_layout", module)
    spec.loader.exec_module(module)
    return module


LAYOUT = _load_layout_script()


class Diagram:
    """A file's process elements and their diagram bounds, read from the DI alone."""

    def __init__(self, path: Path) -> None:
        root = etree.parse(str(path)).getroot()
        process = root.find(f"{BPMN}process")
        self.kind: dict[str, str] = {}
        self.name: dict[str, str] = {}
        self.host: dict[str, str] = {}
        self.flows: dict[str, tuple[str, str]] = {}
        for el in process:
            if not isinstance(el.tag, str):
                continue
            kind = etree.QName(el).localname
            if kind == "sequenceFlow":
                self.flows[el.get("id")] = (el.get("sourceRef"), el.get("targetRef"))
            elif kind not in NOT_NODES:
                self.kind[el.get("id")] = kind
                if el.get("attachedToRef"):
                    self.host[el.get("id")] = el.get("attachedToRef")
            if el.get("name"):
                self.name[el.get("id")] = el.get("name")
        self.lane_of = {ref.text.strip(): lane.get("id") for lane in process.iter(f"{BPMN}lane")
                        for ref in lane.iter(f"{BPMN}flowNodeRef")}
        self.shapes: dict[str, Box] = {}
        self.labels: dict[str, Box | None] = {}
        self.waypoints: dict[str, list[tuple[float, float]]] = {}
        for shape in root.iter(f"{BPMNDI}BPMNShape"):
            self.shapes[shape.get("bpmnElement")] = _bounds(shape.find(f"{DC}Bounds"))
            self.labels[shape.get("bpmnElement")] = _label(shape)
        for edge in root.iter(f"{BPMNDI}BPMNEdge"):
            self.waypoints[edge.get("bpmnElement")] = [(float(p.get("x")), float(p.get("y")))
                                                       for p in edge.iter(f"{DI}waypoint")]
            self.labels[edge.get("bpmnElement")] = _label(edge)

    def external_labels(self) -> list[str]:
        """Return the elements bpmn-js draws a name outside of: named events, gateways, data, flows."""
        return [e for e in self.name if e in self.flows or self.kind.get(e) in LAYOUT.EXTERNAL_LABEL]


def _bounds(el: Any) -> Box:
    """Return a dc:Bounds as a box."""
    return (float(el.get("x")), float(el.get("y")), float(el.get("width")), float(el.get("height")))


def _label(el: Any) -> Box | None:
    """Return the bounds of an element's BPMNLabel, if it has some."""
    found = el.find(f"{BPMNDI}BPMNLabel/{DC}Bounds")
    return _bounds(found) if found is not None else None


def _overlap(a: Box, b: Box) -> bool:
    """Tell whether two boxes share more than an edge (half a pixel allowed)."""
    return (a[0] + 0.5 < b[0] + b[2] and b[0] + 0.5 < a[0] + a[2]
            and a[1] + 0.5 < b[1] + b[3] and b[1] + 0.5 < a[1] + a[3])


def _touches(segment: Box, box: Box) -> bool:
    """Tell whether a (zero-width) segment enters a box's inside."""
    x, y, w, h = segment
    return (x < box[0] + box[2] - 0.5 and box[0] + 0.5 < x + w
            and y < box[1] + box[3] - 0.5 and box[1] + 0.5 < y + h)


def _on_border(point: tuple[float, float], box: Box) -> bool:
    """Tell whether a point lies on a box's outline, within a few px."""
    x, y = point
    bx, by, bw, bh = box
    t = BORDER_TOLERANCE
    within_x, within_y = bx - t <= x <= bx + bw + t, by - t <= y <= by + bh + t
    on_vertical = within_y and (abs(x - bx) <= t or abs(x - bx - bw) <= t)
    on_horizontal = within_x and (abs(y - by) <= t or abs(y - by - bh) <= t)
    return on_vertical or on_horizontal


shipped = pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])


@shipped
def test_every_flow_node_and_sequence_flow_has_a_diagram_element(path: Path) -> None:
    d = Diagram(path)
    missing = [e for e in d.kind if e not in d.shapes]
    missing += [f for f in d.flows if len(d.waypoints.get(f, [])) < 2]
    assert not missing, f"no diagram element: {missing}"


@shipped
def test_no_two_flow_node_shapes_overlap_except_boundary_events_on_their_host(path: Path) -> None:
    d = Diagram(path)
    ids = sorted(d.kind)
    clashes = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
               if d.host.get(a) != b and d.host.get(b) != a and _overlap(d.shapes[a], d.shapes[b])]
    assert not clashes, f"{len(clashes)} overlapping shapes: {clashes}"


@shipped
def test_no_label_overlaps_another_label_or_shape_in_shipped_diagrams(path: Path) -> None:
    d = Diagram(path)
    named = d.external_labels()
    unplaced = [e for e in named if d.labels.get(e) is None]
    placed = {e: box for e in named if (box := d.labels.get(e)) is not None}
    problems = [f"{e}: no label bounds" for e in unplaced]
    ids = sorted(placed)
    problems += [f"label {a} on label {b}" for i, a in enumerate(ids) for b in ids[i + 1:]
                 if _overlap(placed[a], placed[b])]
    problems += [f"label {e} on shape {n}" for e, box in placed.items() for n in d.kind
                 if _overlap(box, d.shapes[n])]
    assert not problems, f"{len(problems)} label problems:\n" + "\n".join(problems)


@shipped
def test_every_flow_starts_on_its_source_border_and_ends_on_its_target_border(path: Path) -> None:
    d = Diagram(path)
    loose = [f for f, (source, target) in d.flows.items()
             if not (_on_border(d.waypoints[f][0], d.shapes[source])
                     and _on_border(d.waypoints[f][-1], d.shapes[target]))]
    assert not loose, f"flows not attached to their shapes: {loose}"


@shipped
def test_no_flow_runs_through_a_shape_other_than_its_ends(path: Path) -> None:
    d = Diagram(path)
    crossings = []
    for f, (source, target) in d.flows.items():
        ends = {source, target, d.host.get(source)}
        points = d.waypoints[f]
        for (x0, y0), (x1, y1) in pairwise(points):
            segment = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
            crossings += [(f, n) for n in d.kind if n not in ends and _touches(segment, d.shapes[n])]
    assert not crossings, f"{len(crossings)} flows through shapes: {crossings}"


@shipped
def test_every_node_lies_inside_its_lane(path: Path) -> None:
    d = Diagram(path)
    outside = []
    for node in d.kind:
        lane = d.lane_of.get(node) or d.lane_of.get(d.host.get(node, ""))
        if lane is None:
            continue
        x, y, w, h = d.shapes[node]
        lx, ly, lw, lh = d.shapes[lane]
        if not (lx <= x and ly <= y and x + w <= lx + lw and y + h <= ly + lh):
            outside.append(node)
    assert not outside, f"outside their lane: {outside}"


@shipped
def test_every_task_name_fits_inside_its_box(path: Path) -> None:
    d = Diagram(path)
    crowded = [t for t, kind in d.kind.items() if kind in TASKS and t in d.name
               and not LAYOUT.task_text_fits(d.name[t], d.shapes[t][2], d.shapes[t][3])]
    assert not crowded, f"names overflowing their task box: {crowded}"


def test_text_width_counts_chinese_wider_than_latin_and_wraps_at_90_px() -> None:
    assert LAYOUT.text_width("客服") == 24 and LAYOUT.text_width("ab") == 14
    assert LAYOUT.wrap("紧急且客户无法通知或无法到场", 90) == ["紧急且客户无法", "通知或无法到场"]
    assert LAYOUT.wrap("Not back by the end of the day", 90) == ["Not back by", "the end of the", "day"]
    assert LAYOUT.label_size("批准") == (26, 14)


def _outside_diagram(text: str) -> str:
    """Return the file text with its BPMNDiagram element cut out."""
    return re.sub(r"<bpmndi:BPMNDiagram\b.*?</bpmndi:BPMNDiagram>", "", text, flags=re.S)


def test_the_layout_script_changes_nothing_but_the_diagram(tmp_path: Path) -> None:
    copy = tmp_path / "repair_dispatch.bpmn"
    shutil.copy(ROOT / "processes" / "repair_dispatch.bpmn", copy)
    before = copy.read_bytes().decode("utf-8")
    # Moved shapes: the script has something to rewrite.
    copy.write_bytes(re.sub(r'(?<=\s)x="\d+"', 'x="7"', before).encode("utf-8"))
    LAYOUT.layout(copy)
    after = copy.read_bytes().decode("utf-8")
    assert ' x="7"' not in after
    assert _outside_diagram(after) == _outside_diagram(before)
