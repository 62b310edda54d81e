"""A unit of work's context: its functions are bound once, to its own clock and to itself."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

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
