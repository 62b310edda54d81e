"""The unit-of-work policy every façade caller shares: commit, keep a process failure, or roll back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from engine.errors import ProcessFailure
from engine.notify import outbox

T = TypeVar("T")


@dataclass(frozen=True)
class UnitResult(Generic[T]):
    """What a committed unit of work gave: the action's value, or the process failure it recorded."""

    value: T | None
    failure: ProcessFailure | None = None

    def unwrap(self) -> T:
        """Return the value, raising the recorded failure instead (for callers that report it as an error)."""
        if self.failure is not None:
            raise self.failure
        # None is a legitimate value (e.g. a worker pass that found nothing due).
        return self.value  # type: ignore[return-value]


def run_unit(session: Session, action: Callable[[], T]) -> UnitResult[T]:
    """Run one façade call as a unit of work: commit and return, or roll back and re-raise."""
    try:
        value = action()
    except ProcessFailure as failure:
        # The engine moved the instance to `error` and recorded why (the user's input stays with it):
        # that is the outcome of this unit, so it is committed and handed back, not raised.
        _commit(session)
        return UnitResult(None, failure)
    except BaseException:
        session.rollback()
        raise
    _commit(session)
    return UnitResult(value)


def _commit(session: Session) -> None:
    """Commit; a failed commit is rolled back so the session stays usable, then re-raised."""
    try:
        outbox.record(session)  # the unit's notifications, in its own transaction (the outbox)
        session.commit()
    except BaseException:
        session.rollback()
        raise
