"""A unit of work's context: its functions are bound once, to its own clock and to itself."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from engine import domain
from engine.calendar import BusinessCalendar
from engine.context import StepContext
from engine.store.models import ProcessInstance
from tests.conftest import T0


def context(session: Session, minutes: int = 0) -> StepContext:
    """Return the context of a unit on an unsaved instance, its clock `minutes` after T0."""
    inst = ProcessInstance(process_key="repair_dispatch", data={})
    return StepContext(session, inst, "u", T0 + timedelta(minutes=minutes), BusinessCalendar(country=None))


def test_a_unit_binds_its_functions_once_for_all_its_expressions_and_scripts(session: Session) -> None:
    ctx = context(session)
    functions = ctx.functions()
    assert ctx.functions() is functions
    assert ctx.script_engine().environment.functions == functions


def test_each_unit_binds_the_functions_to_its_own_clock(session: Session) -> None:
    first, later = context(session), context(session, minutes=5)
    assert first.evaluate("now()", {}) == T0.isoformat()
    assert later.evaluate("now()", {}) == (T0 + timedelta(minutes=5)).isoformat()
    assert first.functions()["now"] is not later.functions()["now"]


def test_a_service_is_handed_the_units_own_context(session: Session) -> None:
    seen: list[Any] = []
    probe = replace(domain.current(), services={**domain.current().services,
                                                "probe": lambda ctx, n: seen.append((ctx, n)) or n})
    with domain.installed(probe):
        ctx = context(session)
        assert ctx.evaluate("probe(2)", {}) == 2
    assert seen == [(ctx, 2)]


def test_a_finished_units_context_is_freed_without_the_garbage_collector(session: Session) -> None:
    # Each unit's context, kept alive by a cycle through its functions, made most of what every
    # collection walked and freed.
    ctx = context(session)
    engine = ctx.script_engine()
    assert ctx.evaluate("now()", {}) == T0.isoformat()
    gone = weakref.ref(ctx)
    gc.disable()
    try:
        del ctx
        assert gone() is None
    finally:
        gc.enable()
    assert engine.clock is not None and engine.clock() == T0  # a kept workflow's engine keeps the moment
