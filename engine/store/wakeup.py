"""Telling timer workers that a unit of work moved an instance's wake-up earlier."""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.orm import Session, SessionTransaction

from engine.store.db import is_postgresql

_NOTIFIED = "bpm_wakeup_notified"  # this transaction already sent its NOTIFY (outside any savepoint)


def announce_wakeup(session: Session) -> None:
    """Tell timer workers a wake-up moved earlier: NOTIFY on PostgreSQL, in-process at commit."""
    # engine.worker's after_commit hook reads the flag; NOTIFY is transactional, sent at commit.
    session.info["bpm_wakeup"] = True
    if is_postgresql(session.get_bind()) and not session.info.get(_NOTIFIED):
        # No autoflush: NOTIFY needs none of the unit's pending rows, which go out in its final flush.
        with session.no_autoflush:
            session.execute(text("SELECT pg_notify('bpm_wakeup', '')"))
        # One NOTIFY per transaction wakes the workers; inside a savepoint it could be rolled back alone.
        if not session.connection().in_nested_transaction():
            session.info[_NOTIFIED] = True


@event.listens_for(Session, "after_transaction_end")
def _new_transaction_notifies_again(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_NOTIFIED, None)
