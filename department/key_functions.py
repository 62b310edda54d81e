"""Script functions of the key register: reads for form rules, writes bound to the key processes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from department import keys
from engine.context import StepContext
from engine.domain import ServiceContext


def key_state(ctx: ServiceContext, key_id: str) -> str:
    """Return a key's status in the register ('none' when never registered)."""
    return keys.state(ctx.session, str(key_id))


def key_seal_number(ctx: ServiceContext, key_id: str) -> str:
    """Return the seal number the register holds for a sealed key ('' otherwise)."""
    return keys.seal_number(ctx.session, str(key_id))


def acting_user(ctx: ServiceContext) -> str:
    """Return the username doing the current step (a rule may require them to be a named person)."""
    return ctx.actor


def next_day_morning(ctx: ServiceContext) -> str:
    """Return the start of the next working day after today's working hours end (ISO UTC)."""
    if not isinstance(ctx, StepContext):  # every engine step is one; the guard keeps the type honest
        raise TypeError("next_day_morning needs the engine's step context")
    cal = ctx.calendar
    today = ctx.now.astimezone(cal.zone).date()
    day_end = datetime.combine(today, cal.day_end, tzinfo=cal.zone)
    return cal.next_working_start(max(day_end, ctx.now)).isoformat()


def _writer(event: str) -> Callable[..., bool]:
    """Return the script function that appends one register line of an event to a key's history."""

    def write(ctx: ServiceContext, key_id: str, seal: str | None = None, holder: str | None = None,
              kind: str = "unit", note: str = "") -> bool:
        ctx.before_write()
        line = keys.record(ctx.session, key_id=str(key_id), event=event, actor=ctx.actor, now=ctx.now,
                           kind=str(kind), seal=seal, holder=holder, instance_id=ctx.instance_id,
                           note=str(note or ""))
        ctx.service_calls.append({"operation": f"key_{event}", "key": line.key_id,
                                  "status": line.status_after, "seal": line.seal_after})
        return True

    write.__name__ = f"key_{event}"
    return write


KEY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "key_state": key_state,
    "key_seal_number": key_seal_number,
    "acting_user": acting_user,
    "next_day_morning": next_day_morning,
    **{f"key_{event}": _writer(event) for event in keys.MOVES},
}
"""Registered name → implementation."""

_WRITERS_OF: dict[str, tuple[str, ...]] = {
    "key_custody": ("handover", "seal", "release"),
    "key_loan": ("issue", "return"),
    "key_loss": ("lost", "lock_changed", "found"),
    "sealed_key_usage": ("reseal",),
    "sealed_key_incident": ("seal_broken", "lost"),
}
KEY_SERVICE_PROCESSES: dict[str, frozenset[str]] = {
    f"key_{event}": frozenset(p for p, events in _WRITERS_OF.items() if event in events)
    for event in keys.MOVES
}
"""Each register write → the processes allowed to make it; the reads are open (they write nothing)."""
