"""Give BPMN files a fresh diagram: lanes, layered columns, orthogonal flows and placed labels.

Usage: python scripts/bpmn_layout.py processes/key_loan.bpmn [...]   (rewrites the files in place)

Only the text of `bpmndi:BPMNDiagram` is replaced; the process and collaboration stay byte-identical.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from lxml import etree

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
# Drawn by bpmn-js with the name outside the shape (bpmn-js LabelUtil.isLabelExternal).
EXTERNAL_LABEL = EVENTS | GATEWAYS | {"dataObjectReference", "dataStoreReference", "dataInput", "dataOutput"}
NOT_NODES = {"sequenceFlow", "laneSet", "documentation", "extensionElements", "association",
             "textAnnotation", "dataObject", "ioSpecification", "messageFlow"}
EVENT_SIZE, GATEWAY_SIZE, TASK_SIZE = (36, 36), (50, 50), (100, 80)
# bpmn-js: external labels wrap at 90 px in an 11 px font; task names at box width - 2 * 5 px in 12 px.
LABEL_WRAP, LABEL_LINE, TASK_PAD, TASK_LINE = 90, 14, 5, 14.4
WIDE, NARROW, SPACE = 12.0, 7.0, 4.0
POOL_X, POOL_Y, STRIP = 100, 60, 30
COL_GAP, ROW_GAP, LANE_PAD, LANE_MIN = 100, 90, 30, 150
# Offsets of parallel flows in one gap: vertical gaps are 100 px wide, row gaps 90 px high.
V_TRACKS, H_TRACKS = (0, -12, 12, -24, 24, -36, 36), (0, 10, -10, 20, -20)

Box = tuple[float, float, float, float]
Point = tuple[float, float]
Track = tuple[tuple[Any, ...], float, float, Any, int]  # where, from, to, key, offset


def char_width(ch: str) -> float:
    """Estimate a character's width in px: CJK and full-width ~12, Latin ~7, a space ~4."""
    if ch == " ":
        return SPACE
    return WIDE if unicodedata.east_asian_width(ch) in ("W", "F") else NARROW


def text_width(text: str) -> float:
    """Estimate the width of one line of text."""
    return sum(char_width(ch) for ch in text)


def wrap(text: str, width: float) -> list[str]:
    """Break text into lines no wider than width, as bpmn-js does: at spaces, else between CJK characters."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        # Tokens: a CJK character alone, a run of other characters, or a run of spaces.
        tokens = re.findall(r"[\u2e80-\uffef]|[^\s\u2e80-\uffef]+|\s+", paragraph.strip())
        line = ""
        for token in tokens:
            if text_width((line + token).rstrip()) <= width or not line.strip():
                line += token
            else:
                lines.append(line.rstrip())
                line = token.lstrip()
            # A word longer than a line is cut where the line is full.
            while text_width(line.rstrip()) > width and len(line.rstrip()) > 1:
                cut = max([i for i in range(1, len(line) + 1) if text_width(line[:i]) <= width] or [1])
                lines.append(line[:cut])
                line = line[cut:]
        if line.strip() or not lines:
            lines.append(line.rstrip())
    return lines


def label_size(text: str) -> tuple[int, int]:
    """Return the bounds of an external label: its width up to 90 px, 14 px per line."""
    lines = wrap(text, LABEL_WRAP)
    width = LABEL_WRAP if len(lines) > 1 else text_width(lines[0])
    return int(width + 0.999) + 2, len(lines) * LABEL_LINE


def task_text_fits(name: str, width: float, height: float) -> bool:
    """Tell whether a task name fits inside its box the way bpmn-js draws it (centred, 12 px)."""
    return len(wrap(name, width - 2 * TASK_PAD)) * TASK_LINE <= height - 2 * TASK_PAD


def task_size(name: str) -> tuple[int, int]:
    """Return the smallest box from 100 x 80 up that holds the name (wider first, then taller)."""
    width, height = TASK_SIZE
    while not task_text_fits(name, width, height):
        if width < 160:
            width += 20
        else:
            height += 20
    return width, height


def overlap(a: Box, b: Box, slack: float = 0.5) -> bool:
    """Tell whether two boxes share more than their edges."""
    return (a[0] + slack < b[0] + b[2] and b[0] + slack < a[0] + a[2]
            and a[1] + slack < b[1] + b[3] and b[1] + slack < a[1] + a[3])


def inside(a: Box, b: Box) -> bool:
    """Tell whether box a lies within box b."""
    return a[0] >= b[0] and a[1] >= b[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]


def segment_box(p: Point, q: Point, pad: float = 2) -> Box:
    """Return a thin box around an orthogonal segment."""
    x, y = min(p[0], q[0]), min(p[1], q[1])
    return (x - pad, y - pad, abs(p[0] - q[0]) + 2 * pad, abs(p[1] - q[1]) + 2 * pad)


@dataclass
class Node:
    """A flow node as the layout sees it."""

    id: str
    kind: str
    name: str
    lane: int = 0
    host: str | None = None
    layer: int = 0
    row: int = 0
    box: Box = (0, 0, 0, 0)


@dataclass
class Flow:
    """A sequence flow."""

    id: str
    source: str
    target: str
    name: str
    points: list[Point] = field(default_factory=list)


@dataclass
class Model:
    """What the layout reads from a file."""

    collaboration: str
    participant: str
    process: str
    lanes: list[tuple[str, str]]
    nodes: dict[str, Node]
    flows: list[Flow]


def read_model(root: Any) -> Model:
    """Read the collaboration, lanes, flow nodes and sequence flows of the file's one process."""
    process = root.find(f"{{{NS['bpmn']}}}process")
    collab = root.find(f"{{{NS['bpmn']}}}collaboration")
    participant = collab.find(f"{{{NS['bpmn']}}}participant") if collab is not None else None
    lanes_el = process.findall(f".//{{{NS['bpmn']}}}lane")
    lane_of = {ref.text.strip(): i for i, lane in enumerate(lanes_el)
               for ref in lane.findall(f"{{{NS['bpmn']}}}flowNodeRef")}
    nodes: dict[str, Node] = {}
    flows: list[Flow] = []
    for el in process:
        if not isinstance(el.tag, str):
            continue
        kind = etree.QName(el).localname
        if kind == "sequenceFlow":
            flows.append(Flow(el.get("id"), el.get("sourceRef"), el.get("targetRef"), el.get("name") or ""))
        elif kind not in NOT_NODES and el.get("id"):
            nodes[el.get("id")] = Node(el.get("id"), kind, el.get("name") or "", lane_of.get(el.get("id"), 0),
                                       el.get("attachedToRef"))
    for node in nodes.values():
        if node.host:
            node.lane = nodes[node.host].lane
    lanes = [(lane.get("id"), lane.get("name") or "") for lane in lanes_el]
    return Model(collab.get("id") if collab is not None else process.get("id"),
                 participant.get("id") if participant is not None else "",
                 process.get("id"), lanes, nodes, flows)


def node_size(node: Node, boundaries: int) -> tuple[int, int]:
    """Return a node's width and height: fixed for events and gateways, fitted to the name for tasks."""
    if node.kind in EVENTS:
        return EVENT_SIZE
    if node.kind in GATEWAYS:
        return GATEWAY_SIZE
    width, height = task_size(node.name)
    # Room for its boundary events side by side on the bottom edge.
    return max(width, 56 + 44 * boundaries), height


class Layout:
    """Lay out one process: layers, rows, boxes, routes and labels."""

    def __init__(self, model: Model) -> None:
        self.m = model
        self.nodes = model.nodes
        self.lane_count = max(1, len(model.lanes))
        self.boundaries: dict[str, list[str]] = defaultdict(list)
        for node in self.nodes.values():
            if node.host:
                self.boundaries[node.host].append(node.id)
        self.size = {n.id: node_size(n, len(self.boundaries[n.id])) for n in self.nodes.values()}
        self.tracks: dict[tuple[Any, ...], list[tuple[float, float, Any, int]]] = defaultdict(list)
        self.labels: dict[str, Box] = {}
        self.back: set[str] = set()

    def anchor(self, node_id: str) -> str:
        """Return the node a flow from node_id counts from: a boundary event's host."""
        return self.nodes[node_id].host or node_id

    def assign_layers(self) -> None:
        """Layer = longest path from a start, leaving out the flows that close a loop."""
        succ: dict[str, list[Flow]] = defaultdict(list)
        for f in self.m.flows:
            succ[self.anchor(f.source)].append(f)
        order = [n for n in self.nodes if self.nodes[n].kind == "startEvent" and not self.nodes[n].host]
        order += [n for n in self.nodes if n not in order and not self.nodes[n].host]
        # Steps from the start (breadth-first) and to an end: how far back a flow closing a loop leads.
        dist: dict[str, int] = {}
        self.discovered: list[str] = []
        for root in order:
            if root in dist:
                continue
            dist[root] = 0
            queue = [root]
            while queue:
                n = queue.pop(0)
                self.discovered.append(n)
                for f in succ[n]:
                    t = self.anchor(f.target)
                    if t not in dist:
                        dist[t] = dist[n] + 1
                        queue.append(t)

        # Escalations do not count towards the end: a boundary event's short way out says nothing of the flow.
        pred: dict[str, list[str]] = defaultdict(list)
        for f in self.m.flows:
            if not self.nodes[f.source].host:
                pred[f.target].append(f.source)
        far = len(self.nodes) + 1
        to_end = {n: 0 for n in self.nodes if self.nodes[n].kind == "endEvent"}
        queue = list(to_end)
        while queue:
            n = queue.pop(0)
            for p in pred[n]:
                if p not in to_end:
                    to_end[p] = to_end[n] + 1
                    queue.append(p)

        def reaches(a: str, b: str) -> bool:
            seen, todo = {a}, [a]
            while todo:
                for f in succ[todo.pop()]:
                    if f.id in self.back:
                        continue
                    t = self.anchor(f.target)
                    if t == b:
                        return True
                    if t not in seen:
                        seen.add(t)
                        todo.append(t)
            return False

        def backwardness(f: Flow) -> tuple[int, int, int]:
            u, v = self.anchor(f.source), self.anchor(f.target)
            # Cutting a node's last way in would strand it in the first column: only as a last resort.
            other_ways_in = any(g is not f and g.id not in self.back and self.anchor(g.target) == v
                                for g in self.m.flows)
            return int(other_ways_in), to_end.get(v, far) - to_end.get(u, far), dist[u] - dist[v]
        # Break loops one flow at a time: of the flows on a loop, the one leading farthest away from the
        # end (then towards the start) is drawn as a flow back. A node reached early by a shortcut
        # (an answer on the spot) stays late in the picture, where the main path reaches it.
        while True:
            looping = [f for f in self.m.flows if f.id not in self.back
                       and reaches(self.anchor(f.target), self.anchor(f.source))]
            if not looping:
                break
            self.back.add(max(looping, key=backwardness).id)
        indegree: dict[str, int] = defaultdict(int)
        for f in self.m.flows:
            if f.id not in self.back:
                indegree[self.anchor(f.target)] += 1
        ready = [n for n in self.discovered if indegree[n] == 0]
        while ready:
            n = ready.pop(0)
            for f in succ[n]:
                if f.id in self.back:
                    continue
                t = self.anchor(f.target)
                self.nodes[t].layer = max(self.nodes[t].layer, self.nodes[n].layer + 1)
                indegree[t] -= 1
                if indegree[t] == 0:
                    ready.append(t)

    def assign_rows(self) -> None:
        """Stack nodes sharing a lane and a column; a node keeps its predecessor's row when it is free."""
        preds: dict[str, list[str]] = defaultdict(list)
        for f in self.m.flows:
            if f.id not in self.back:
                preds[self.anchor(f.target)].append(f.source)
        taken: set[tuple[int, int, int]] = set()
        rank = {n: i for i, n in enumerate(self.discovered)}

        def wish(n: str) -> int | None:
            for p in preds[n]:
                pred = self.nodes[p]
                if pred.lane == self.nodes[n].lane:
                    # A follow-up of a boundary event goes below its host, where the event points.
                    return self.nodes[pred.host].row + 1 if pred.host else pred.row
            return None
        for layer in sorted({self.nodes[n].layer for n in self.discovered}):
            column = [n for n in self.discovered if self.nodes[n].layer == layer]
            wishes = {n: wish(n) for n in column}
            # Nodes continuing a line in their lane claim their row before nodes coming from another lane.
            for n in sorted(column, key=lambda k: (wishes[k] is None, rank[k])):
                node = self.nodes[n]
                row = wishes[n] or 0
                while (node.lane, layer, row) in taken:
                    row += 1
                node.row = row
                taken.add((node.lane, layer, row))

    def place(self) -> None:
        """Compute column, lane and node boxes."""
        main = [n for n in self.nodes.values() if not n.host]
        columns = max(n.layer for n in main) + 1
        self.col_w = [max([self.size[n.id][0] for n in main if n.layer == c] or [36]) for c in range(columns)]
        self.col_x: list[float] = []
        x = POOL_X + 2 * STRIP + COL_GAP // 2 + 10
        for w in self.col_w:
            self.col_x.append(x)
            x += w + COL_GAP
        self.right = x - COL_GAP // 2
        self.rows = [1 + max([n.row for n in main if n.lane == lane] or [0])
                     for lane in range(self.lane_count)]
        self.pitch = [max([self.size[n.id][1] for n in main if n.lane == lane] or [36]) + ROW_GAP
                      for lane in range(self.lane_count)]
        self.lane_box: list[Box] = []
        self.block_top: list[float] = []
        y = float(POOL_Y)
        for lane in range(self.lane_count):
            height = max(LANE_MIN, self.rows[lane] * self.pitch[lane] + 2 * LANE_PAD)
            name = self.m.lanes[lane][1] if self.m.lanes else ""
            while name and len(wrap(name, height - 2 * TASK_PAD)) > 2:
                height += 10
            self.lane_box.append((POOL_X + STRIP, y, self.right - POOL_X - STRIP, height))
            self.block_top.append(y + (height - self.rows[lane] * self.pitch[lane]) // 2)
            y += height
        self.pool = (POOL_X, POOL_Y, self.right - POOL_X, y - POOL_Y)
        for n in main:
            w, h = self.size[n.id]
            cx = self.col_x[n.layer] + self.col_w[n.layer] // 2
            cy = self.block_top[n.lane] + self.pitch[n.lane] * n.row + self.pitch[n.lane] // 2
            n.box = (cx - w // 2, cy - h // 2, w, h)
        for host, events in self.boundaries.items():
            hx, hy, hw, hh = self.nodes[host].box
            for i, b in enumerate(events):
                # On the bottom edge from the right, where the follow-up flow turns towards its task.
                bx = hx + hw - 22 - 44 * i
                self.nodes[b].box = (bx - 18, hy + hh - 18, 36, 36)

    def center(self, n: str) -> Point:
        """Return a node's centre."""
        x, y, w, h = self.nodes[n].box
        return x + w / 2, y + h / 2

    def gap_x(self, column: int) -> float:
        """Return the x of the free gap left of a column."""
        return self.col_x[column] - COL_GAP / 2

    def channel_y(self, lane: int, k: int) -> float:
        """Return the y of the free gap above row k of a lane (k = rows: below the last row)."""
        # The outer gaps keep off the lane's edge, where a flow would read as the lane border.
        inward = 8 if k == 0 else -8 if k == self.rows[lane] else 0
        return self.block_top[lane] + k * self.pitch[lane] + inward

    def track(self, where: tuple[Any, ...], lo: float, hi: float, key: Any) -> Track:
        """Pick an offset for a segment in a gap so that it runs beside, not on, other flows' segments."""
        lo, hi = min(lo, hi), max(lo, hi)
        for offset in V_TRACKS if where[0] == "v" else H_TRACKS:
            if all(o != offset or k == key or hi + 8 < a or lo - 8 > b for a, b, k, o in self.tracks[where]):
                return where, lo, hi, key, offset
        return where, lo, hi, key, 0

    def gap(self, column: int, lo: float, hi: float, key: Any) -> tuple[float, Track]:
        """Return the x of a vertical track in the gap left of a column, and its reservation."""
        t = self.track(("v", column), lo, hi, key)
        return self.gap_x(column) + t[4], t

    def channel(self, lane: int, k: int, lo: float, hi: float, key: Any) -> tuple[float, Track]:
        """Return the y of a horizontal track in the gap above row k of a lane, and its reservation."""
        t = self.track(("h", lane, k), lo, hi, key)
        return self.channel_y(lane, k) + t[4], t

    def free(self, points: list[Point], skip: set[str]) -> bool:
        """Tell whether a path crosses no node shape other than those in skip."""
        for p, q in pairwise(points):
            seg = segment_box(p, q, 3)
            for n in self.nodes.values():
                if n.id not in skip and overlap(seg, n.box):
                    return False
        return True

    def related(self, f: Flow, g: Flow) -> bool:
        """Tell whether two flows may share a line: same source or same target."""
        return self.anchor(f.source) == self.anchor(g.source) or f.target == g.target

    def crossings(self, f: Flow, points: list[Point]) -> float:
        """Count the routed flows a path would cross; running along an unrelated one costs more."""
        count = 0.0
        for g in self.m.flows:
            if g is f or not g.points:
                continue
            for p, q in pairwise(points):
                for r, t in pairwise(g.points):
                    ph, rh = abs(p[1] - q[1]) < 1, abs(r[1] - t[1]) < 1
                    if ph != rh:
                        (h0, h1), (v0, v1) = ((p, q), (r, t)) if ph else ((r, t), (p, q))
                        if (min(h0[0], h1[0]) + 1 < v0[0] < max(h0[0], h1[0]) - 1
                                and min(v0[1], v1[1]) + 1 < h0[1] < max(v0[1], v1[1]) - 1):
                            count += 1
                    elif not self.related(f, g):
                        k = 1 if ph else 0
                        lo = max(min(p[1 - k], q[1 - k]), min(r[1 - k], t[1 - k]))
                        hi = min(max(p[1 - k], q[1 - k]), max(r[1 - k], t[1 - k]))
                        if abs(p[k] - r[k]) < 4 and hi - lo > 1:
                            count += 5
        return count

    def plan_exits(self) -> None:
        """Choose the corner each forward branch of a gateway leaves from, so branches rarely share a line."""
        self.exits: dict[str, str] = {}
        for s in self.nodes.values():
            if s.kind not in GATEWAYS:
                continue
            scy = self.center(s.id)[1]
            out = [f for f in self.m.flows if f.source == s.id and f.id not in self.back
                   and self.nodes[f.target].layer > s.layer]
            level = sorted((f for f in out if abs(self.center(f.target)[1] - scy) < 1),
                           key=lambda f: self.nodes[f.target].layer)
            right_free = not level
            # Only the nearest target in the gateway's row is reached straight; the others go over it.
            for f in level[1:]:
                self.exits[f.id] = "top"
            downs = sorted((f for f in out if self.center(f.target)[1] > scy + 1),
                           key=lambda f: self.center(f.target)[1])
            ups = sorted((f for f in out if self.center(f.target)[1] < scy - 1),
                         key=lambda f: -self.center(f.target)[1])
            for group, side in ((downs, "bottom"), (ups, "top")):
                for i, f in enumerate(group):
                    # With several branches one way, the nearest turns in the gap and the rest go round it.
                    if i == 0 and len(group) > 1 and right_free:
                        self.exits[f.id] = "right"
                        right_free = False
                    else:
                        self.exits[f.id] = side

    def options(self, f: Flow) -> list[tuple[list[Point], list[Track]]]:
        """List the orthogonal paths a flow may take through the free gaps between columns and rows."""
        s, t = self.nodes[f.source], self.nodes[f.target]
        host = self.nodes[s.host] if s.host else s
        sx, sy, sw, sh = s.box
        tx, ty, tw, th = t.box
        scy, tcy = sy + sh / 2, ty + th / 2
        left_in: Point = (tx, tcy)
        out: list[tuple[list[Point], list[Track]]] = []
        # Row gaps a path may run along: beside the source's row and beside the target's row.
        gaps = {(host.lane, host.row), (host.lane, host.row + 1), (t.lane, t.row), (t.lane, t.row + 1)}

        def via_channels(start: Point, first: list[Point], rising: bool | None) -> None:
            for lane, k in sorted(gaps):
                cy0 = self.channel_y(lane, k)
                if rising is not None and (cy0 < start[1]) != rising:
                    continue
                lead = first[-1] if first else start
                cy, ht = self.channel(lane, k, lead[0], tx, f.id)
                gx, vt = self.gap(t.layer, cy, tcy, ("to", t.id))
                out.append(([start, *first, (lead[0], cy), (gx, cy), (gx, tcy), left_in], [ht, vt]))
                if t.lane == lane and k in (t.row, t.row + 1):
                    # Into the target's top or bottom from the row gap beside it, when that side is free.
                    below = k == t.row + 1
                    side = "bottom" if below else "top"
                    if not any(g.source == t.id and self.exits.get(g.id) == side for g in self.m.flows) \
                            and not (below and self.boundaries[t.id]):
                        end = (tx + tw / 2, ty + th if below else ty)
                        out.append(([start, *first, (lead[0], cy), (end[0], cy), end], [ht]))

        if s.host:
            start: Point = (sx + sw / 2, sy + sh)
            if tcy > start[1] and tx > start[0]:
                out.append(([start, (start[0], tcy), left_in], []))
            via_channels(start, [], False)
            return out
        forward = f.id not in self.back and t.layer > s.layer
        side = self.exits.get(f.id, "right") if forward else None
        if side in ("top", "bottom"):
            start = (sx + sw / 2, sy + sh if side == "bottom" else sy)
            if abs(tcy - scy) >= 1:
                out.append(([start, (start[0], tcy), left_in], []))
            via_channels(start, [], side == "top")
            return out
        if forward:
            start = (sx + sw, scy)
            if abs(scy - tcy) < 1:
                out.append(([start, left_in], []))
            for column, key in ((t.layer, ("to", t.id)), (s.layer + 1, ("from", s.id))):
                gx, vt = self.gap(column, scy, tcy, key)
                out.append(([start, (gx, scy), (gx, tcy), left_in], [vt]))
            g1, vt1 = self.gap(s.layer + 1, scy, tcy, ("from", s.id))
            before = len(out)
            via_channels(start, [(g1, scy)], None)
            for _points, reserved in out[before:]:
                reserved.append(vt1)
            return out
        # A flow back: out of the bottom or top (whichever its boundary events and branches leave free).
        used = {self.exits.get(g.id) for g in self.m.flows if g.source == s.id}
        sides = [up for up in (False, True) if not (
            (up and "top" in used) or (not up and ("bottom" in used or self.boundaries[s.id])))]
        for up in sides or [True]:
            via_channels((sx + sw / 2, sy if up else sy + sh), [], up)
        return out

    def route(self, f: Flow) -> list[Point]:
        """Take the path crossing the fewest flows routed so far (then the one with fewest bends)."""
        s = self.nodes[f.source]
        skip = {f.source, f.target, s.host or f.source}
        best: tuple[float, list[Point], list[Track]] | None = None
        for points, reserved in self.options(f):
            if not self.free(points, skip):
                continue
            score = 10 * self.crossings(f, points) + len(points) + sum(
                abs(p[0] - q[0]) + abs(p[1] - q[1]) for p, q in pairwise(points)) / 1000
            if best is None or score < best[0]:
                best = (score, points, reserved)
        if best is None:  # nothing clear of shapes: a straight line shows at least what connects to what
            x, y, _w, h = self.nodes[f.target].box
            return [(s.box[0] + s.box[2], s.box[1] + s.box[3] / 2), (x, y + h / 2)]
        for where, lo, hi, key, offset in best[2]:
            self.tracks[where].append((lo, hi, key, offset))
        return best[1]

    def span(self, f: Flow) -> float:
        """Return the distance between a flow's ends, centre to centre."""
        (ax, ay), (bx, by) = self.center(f.source), self.center(f.target)
        return abs(ax - bx) + abs(ay - by)

    def segments(self) -> list[Box]:
        """Return thin boxes around every routed flow segment."""
        return [segment_box(p, q) for f in self.m.flows for p, q in pairwise(f.points)]

    def pick(self, candidates: list[Box], bound: Box, soft: list[Box]) -> Box:
        """Pick the first candidate clear of shapes and labels, preferring ones clear of flows too."""
        hard = [n.box for n in self.nodes.values()] + list(self.labels.values())
        best, best_score = candidates[0], float("inf")
        for i, c in enumerate(candidates):
            c = (round(c[0]), round(c[1]), c[2], c[3])
            if not inside(c, bound) or any(overlap(c, h) for h in hard):
                continue
            score = i + 1000 * sum(overlap(c, s) for s in soft)
            if score < best_score:
                best, best_score = c, score
        return best

    def node_label(self, n: Node) -> Box:
        """Place an event's or gateway's name below it, else beside or above, clear of everything."""
        w, h = label_size(n.name)
        x, y, bw, bh = n.box
        cx, cy = x + bw / 2, y + bh / 2
        candidates: list[Box] = []
        for d in (4, 12, 20, 30):
            candidates += [(cx - w / 2, y + bh + d, w, h), (x - w - d + 4, y + bh + d - 4, w, h),
                           (x + bw + d, y + bh + d - 4, w, h), (cx - w / 2, y - h - d, w, h),
                           (x + bw + d - 2, y - h - d + 4, w, h), (x - w - d + 2, y - h - d + 4, w, h),
                           (x - w - d, cy - h / 2, w, h), (x + bw + d, cy - h / 2, w, h)]
        return self.pick(candidates, self.lane_box[n.lane], self.segments())

    def own_part(self, f: Flow, p: Point, q: Point) -> tuple[Point, Point] | None:
        """Return the longest stretch of a segment that no other flow runs along (shared trunks excluded)."""
        axis = 1 if abs(p[1] - q[1]) < 1 else 0  # the coordinate that is constant
        lo, hi = sorted((p[1 - axis], q[1 - axis]))
        pieces = [(lo, hi)]
        for g in self.m.flows:
            if g is f:
                continue
            for a, b in pairwise(g.points):
                if abs(a[axis] - b[axis]) < 1 and abs(a[axis] - p[axis]) < 1:
                    glo, ghi = sorted((a[1 - axis], b[1 - axis]))
                    pieces = [part for x0, x1 in pieces
                              for part in ((x0, min(x1, glo)), (max(x0, ghi), x1)) if part[1] - part[0] > 1]
        if not pieces:
            return None
        x0, x1 = max(pieces, key=lambda part: part[1] - part[0])
        if p[1 - axis] > q[1 - axis]:
            x0, x1 = x1, x0
        return ((x0, p[1]), (x1, p[1])) if axis == 1 else ((p[0], x0), (p[0], x1))

    def flow_label(self, f: Flow) -> Box:
        """Place a flow's name beside a stretch of line it does not share with others, nearest its source."""
        w, h = label_size(f.name)
        own: list[tuple[Point, Point]] = []
        shared: list[tuple[Point, Point]] = []
        for p, q in pairwise(f.points):
            part = self.own_part(f, p, q)
            if part:
                own.append(part)
            shared.append((p, q))
        candidates: list[Box] = []
        for p, q in own + shared:
            if abs(p[1] - q[1]) < 1:
                x0, x1 = min(p[0], q[0]), max(p[0], q[0])
                mid = (x0 + x1 - w) / 2
                xs = [x0 + 6, mid, x1 - w - 6] if p[0] < q[0] else [x1 - w - 6, mid]
                for x in xs:
                    candidates += [(x, p[1] - h - 3, w, h), (x, p[1] + 3, w, h)]
            else:
                y0, y1 = min(p[1], q[1]), max(p[1], q[1])
                near = [y0 + 6, y1 - h - 6] if p[1] < q[1] else [y1 - h - 6, y0 + 6]
                mid = (y0 + y1 - h) / 2
                # Beside the line just after the source reads well; after a bend the middle is clearer.
                ys = (near[0], mid, near[1]) if p == f.points[0] else (mid, near[0], near[1])
                sides = [p[0] + 4, p[0] - w - 4]
                if p == f.points[0]:  # leaving a gateway's corner: the right side belongs to its right branch
                    sides.reverse()
                for y in ys:
                    candidates += [(x, y, w, h) for x in sides]
        return self.pick(candidates, self.pool, self.segments())

    def run(self) -> None:
        """Lay out everything."""
        self.assign_layers()
        self.assign_rows()
        self.place()
        self.plan_exits()
        # Short flows first: the long ones then find their way around them.
        for f in sorted(self.m.flows, key=lambda f: self.span(f)):
            f.points = self.route(f)
        for n in self.nodes.values():
            if n.name and n.kind in EXTERNAL_LABEL:
                self.labels[n.id] = self.node_label(n)
        for f in self.m.flows:
            if f.name:
                self.labels[f.id] = self.flow_label(f)


def num(value: float) -> str:
    """Write a coordinate as an integer when it is one."""
    return f"{round(value)}" if abs(value - round(value)) < 1e-6 else f"{value:.1f}"


def bounds(box: Box) -> str:
    """Return a dc:Bounds element."""
    x, y, w, h = box
    return f'<dc:Bounds x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}"/>'


def diagram_text(model: Model, lay: Layout, indent: str = "  ") -> str:
    """Write the BPMNDiagram element as text in the files' style (two-space indentation)."""
    i1, i2, i3, i4 = (indent * k for k in (1, 2, 3, 4))
    out = [f'{i1}<bpmndi:BPMNDiagram id="BPMNDiagram_{model.process}">',
           f'{i2}<bpmndi:BPMNPlane id="BPMNPlane_{model.process}" bpmnElement="{model.collaboration}">']

    def shape(eid: str, box: Box, horizontal: bool = False, label: Box | None = None) -> None:
        extra = ' isHorizontal="true"' if horizontal else ""
        out.append(f'{i3}<bpmndi:BPMNShape id="{eid}_di" bpmnElement="{eid}"{extra}>')
        out.append(f"{i4}{bounds(box)}")
        if label:
            out.extend([f"{i4}<bpmndi:BPMNLabel>", f"{i4}  {bounds(label)}", f"{i4}</bpmndi:BPMNLabel>"])
        out.append(f"{i3}</bpmndi:BPMNShape>")

    if model.participant:
        shape(model.participant, lay.pool, True)
    for (lane_id, _name), box in zip(model.lanes, lay.lane_box, strict=False):
        shape(lane_id, box, True)
    for n in model.nodes.values():
        shape(n.id, n.box, label=lay.labels.get(n.id))
    for f in model.flows:
        out.append(f'{i3}<bpmndi:BPMNEdge id="{f.id}_di" bpmnElement="{f.id}">')
        out += [f'{i4}<di:waypoint x="{num(x)}" y="{num(y)}"/>' for x, y in f.points]
        if f.id in lay.labels:
            out += [f"{i4}<bpmndi:BPMNLabel>", f"{i4}  {bounds(lay.labels[f.id])}",
                    f"{i4}</bpmndi:BPMNLabel>"]
        out.append(f"{i3}</bpmndi:BPMNEdge>")
    out += [f"{i2}</bpmndi:BPMNPlane>", f"{i1}</bpmndi:BPMNDiagram>"]
    return "\n".join(out)


def relayout(text: str) -> str:
    """Return the file text with a new diagram spliced in place of the old one; nothing else changes."""
    root = etree.fromstring(text.encode("utf-8"))
    model = read_model(root)
    lay = Layout(model)
    lay.run()
    new = diagram_text(model, lay)
    found = re.search(r"[ \t]*<bpmndi:BPMNDiagram\b.*?</bpmndi:BPMNDiagram>", text, re.S)
    if found:
        return text[:found.start()] + new + text[found.end():]
    end = text.rindex("</bpmn:definitions>")
    return text[:end] + new + "\n" + text[end:]


def layout(path: Path) -> None:
    """Rewrite a file's BPMNDiagram from its process."""
    text = path.read_bytes().decode("utf-8")
    path.write_bytes(relayout(text).encode("utf-8"))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        layout(Path(arg))
