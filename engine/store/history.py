"""Append-only instance history: one row per fact, written in the step's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from engine.store.models import HistoryEvent
from engine.store.pending import add_row, write_pending

HISTORY: Table = HistoryEvent.__table__  # type: ignore[assignment]

# Kinds of history event; the diagram view and the SLA figures read these names.
KINDS = (
    "started", "task_ready", "task_claimed", "task_released", "task_reassigned", "task_completed",
    "task_cancelled", "gateway", "script", "event", "timer_fired", "escalation", "error", "retried",
    "suspended", "resumed", "terminated", "completed", "outcome", "service", "comment", "attachment",
    "migrated",
)


# Tuples, not `A | B` unions: a union in the function body is built anew on every call.
_SCALARS = (str, int, float)  # bool is an int
_SEQUENCES = (list, tuple, set, frozenset)
_MOMENTS = (datetime, date)
# Exact types kept as they are, tested before a call: most task data is these, in a dict or list.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Return a JSON-safe copy of task data for a history row."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {key if type(key) is str else str(key): item if type(item) in _PLAIN else jsonable(item)
                for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _PLAIN else jsonable(item) for item in value]
    # Subclasses and everything else.
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, _SEQUENCES):
        return [jsonable(v) for v in value]
    if isinstance(value, _MOMENTS):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return repr(value)


def changes(before: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, Any]:
    """Return {key: [old, new]} for every submitted value that differs from the data before it."""
    # Bookkeeping the engine adds (who did each step) is the row's own actor and element: not repeated.
    return {key: [jsonable(before.get(key)), jsonable(submitted[key])]
            for key in sorted(submitted) if before.get(key) != submitted[key]}


def record(session: Session, instance_id: int, kind: str, at: datetime, *, actor: str | None = None,
           element_id: str | None = None, task_id: str | None = None, message: str = "",
           details: dict[str, Any] | None = None) -> None:
    """Append one history row (queued: the unit writes all its history rows in one insert)."""
    if kind not in KINDS:
        raise ValueError(f"unknown history kind {kind!r}")
    add_row(session, HISTORY, {"instance_id": instance_id, "kind": kind, "at": at, "actor": actor,
                               "element_id": element_id, "task_id": task_id, "message": message,
                               "details": jsonable(details) if details else None})


def history_of(session: Session, instance_id: int) -> list[HistoryEvent]:
    """Return an instance's history, oldest first."""
    write_pending(session)
    return list(session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == instance_id)
                                .order_by(HistoryEvent.id)))
