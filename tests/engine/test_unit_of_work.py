"""The one unit-of-work policy: a process failure is committed and handed back, anything else rolls back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, ProcessFailure
from engine.store.models import User
from engine.store.unit_of_work import run_unit
from tests.conftest import add_user


def _stored(factory: Callable[[], Session]) -> list[str]:
    with factory() as s:
        return list(s.scalars(select(User.username).order_by(User.username)))


def test_a_unit_that_succeeds_is_committed_and_returns_its_value(
        session_factory: Callable[[], Session]) -> None:
    with session_factory() as s:
        unit = run_unit(s, lambda: add_user(s, "kept", "cs_assistant").username)
    assert (unit.value, unit.failure, unit.unwrap()) == ("kept", None, "kept")
    assert _stored(session_factory) == ["kept"]


def test_a_process_failure_is_committed_and_handed_back_not_raised(
        session_factory: Callable[[], Session]) -> None:
    failure = ProcessFailure("script failed", instance_id=7, element_id="calc")

    def fail_after_writing() -> None:
        add_user(s, "recorded", "cs_assistant")  # stands for the instance moved to `error`
        raise failure

    with session_factory() as s:
        unit = run_unit(s, fail_after_writing)
        assert not s.in_transaction()
    assert unit.failure is failure and unit.value is None
    with pytest.raises(ProcessFailure):
        unit.unwrap()
    assert _stored(session_factory) == ["recorded"]


@pytest.mark.parametrize("error", [Conflict("changed meanwhile"), ValueError("a bug")],
                         ids=["engine error", "other exception"])
def test_any_other_error_rolls_the_unit_back_and_is_raised(
        session_factory: Callable[[], Session], error: Exception) -> None:
    def fail_after_writing() -> None:
        add_user(s, "lost", "cs_assistant")
        raise error

    with session_factory() as s:
        with pytest.raises(type(error)) as raised:
            run_unit(s, fail_after_writing)
        assert raised.value is error
        assert not s.in_transaction() and s.scalar(select(User.username)) is None
    assert _stored(session_factory) == []
