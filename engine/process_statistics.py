"""Where time goes: per element of one process version, counts, waiting and working times, path shares.

Measured over the cases of that version started in [start, end), from their history:
- count: how often the element was passed (a user task completed; an automatic step, event or gateway
  run); cases and case share: how many of the measured cases passed it at least once;
- waiting (user tasks): from `task_ready` until someone claimed it, or until it was completed when
  nobody claimed it first; working: from the claim until completion (tasks completed unclaimed have
  no working time);
- median is the middle value (mean of the two middle ones for an even count); p90 is the nearest-rank
  90th percentile: the ⌈0.9·n⌉-th smallest value;
- paths: per gateway, the share of its passes that took each outgoing branch (the element it reached).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidData, NotFound
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion

_PASSED = ("task_completed", "gateway", "script", "event", "timer_fired")
_TASK = ("task_ready", "task_claimed", "task_completed")
_CHUNK = 500


def median(values: list[float]) -> float | None:
    """Return the middle value (mean of the two middle ones), None for no values."""
    return float(statistics.median(values)) if values else None


def p90(values: list[float]) -> float | None:
    """Return the nearest-rank 90th percentile, None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)])


@dataclass
class Durations:
    """Seconds measured for one element."""

    values: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Describe the figures for JSON."""
        return {"count": len(self.values), "median_s": median(self.values), "p90_s": p90(self.values)}


@dataclass
class ElementStats:
    """The figures of one element."""

    element_id: str
    count: int = 0
    cases: set[int] = field(default_factory=set)
    waiting: Durations = field(default_factory=Durations)
    working: Durations = field(default_factory=Durations)

    def to_dict(self, total_cases: int) -> dict[str, Any]:
        """Describe the figures for JSON."""
        return {"element_id": self.element_id, "count": self.count, "cases": len(self.cases),
                "case_share": len(self.cases) / total_cases if total_cases else None,
                "waiting": self.waiting.to_dict(), "working": self.working.to_dict()}


@dataclass
class VersionStatistics:
    """The statistics of one version over a date range."""

    process_key: str
    version: int
    start: datetime
    end: datetime
    cases: int
    elements: dict[str, ElementStats]
    paths: dict[str, dict[str, int]]  # gateway → taken element → passes

    def to_dict(self) -> dict[str, Any]:
        """Describe the statistics for JSON."""
        paths = []
        for gateway, taken in sorted(self.paths.items()):
            total = sum(taken.values())
            paths += [{"gateway": gateway, "target": target, "count": n,
                       "share": n / total if total else None} for target, n in sorted(taken.items())]
        return {"process_key": self.process_key, "version": self.version, "from": self.start.isoformat(),
                "to": self.end.isoformat(), "cases": self.cases,
                "elements": [s.to_dict(self.cases) for _k, s in sorted(self.elements.items())],
                "paths": paths}


def version_statistics(session: Session, process_key: str, version: int, start: datetime,
                       end: datetime) -> VersionStatistics:
    """Measure the cases of one version started in [start, end) (see the module docstring)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidData("period refused", {"from": ["must carry a time zone"]})
    if end <= start:
        raise InvalidData("period refused", {"to": ["must be after from"]})
    version_id = session.scalar(select(ProcessVersion.id).where(ProcessVersion.process_key == process_key,
                                                                ProcessVersion.version == version))
    if version_id is None:
        raise NotFound(f"process '{process_key}' has no version {version}")
    ids = list(session.scalars(select(ProcessInstance.id).where(
        ProcessInstance.version_id == version_id, ProcessInstance.started_at >= start,
        ProcessInstance.started_at < end).order_by(ProcessInstance.id)))
    elements: dict[str, ElementStats] = {}
    paths: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i in range(0, len(ids), _CHUNK):
        _measure(session, ids[i:i + _CHUNK], elements, paths)
    return VersionStatistics(process_key, version, start, end, len(ids), elements,
                             {g: dict(t) for g, t in paths.items()})


def _measure(session: Session, ids: list[int], elements: dict[str, ElementStats],
             paths: dict[str, dict[str, int]]) -> None:
    """Add one chunk of cases' history to the figures."""
    rows = session.execute(
        select(HistoryEvent.instance_id, HistoryEvent.kind, HistoryEvent.at, HistoryEvent.element_id,
               HistoryEvent.task_id, HistoryEvent.details)
        .where(HistoryEvent.instance_id.in_(ids), HistoryEvent.kind.in_(_PASSED + _TASK),
               HistoryEvent.element_id.is_not(None))
        .order_by(HistoryEvent.id))
    ready: dict[str, datetime] = {}
    claimed: dict[str, datetime] = {}
    for instance_id, kind, at, element_id, task_id, details in rows:
        stats = elements.get(element_id) or elements.setdefault(element_id, ElementStats(element_id))
        if kind == "task_ready" and task_id:
            ready[task_id] = at
            continue
        if kind == "task_claimed" and task_id:
            claimed.setdefault(task_id, at)
            continue
        stats.count += 1
        stats.cases.add(instance_id)
        if kind == "gateway":
            for target in (details or {}).get("taken") or []:
                paths[element_id][str(target)] += 1
        if kind == "task_completed" and task_id in ready:
            began = ready[task_id]
            taken = claimed.get(task_id)
            stats.waiting.values.append(((taken or at) - began).total_seconds())
            if taken is not None:
                stats.working.values.append((at - taken).total_seconds())
