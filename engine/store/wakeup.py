"""Telling timer workers that a unit of work moved an instance's wake-up earlier."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from engine.store.db import is_postgresql
from engine.store.pending import add_statement

_NOTIFIED = "bpm_wakeup_notified"  # this transaction already sent its NOTIFY (outside any savepoint)


def announce_wakeup(session: Session) -> None:
    """Tell timer workers a wake-up moved earlier: NOTIFY on PostgreSQL, in-process at commit."""
    # engine.worker's after_commit hook reads the flag; NOTIFY is transactional, sent at commit.
    session.info["bpm_wakeup"] = True
    if is_postgresql(session.get_bind()) and not session.info.get(_NOTIFIED):
        # Queued, not sent: NOTIFY only counts at commit, so it goes out with the unit's rows (in their
        # pipeline, no round trip of its own) or at commit. One per transaction wakes the workers, and a
        # queued statement outlives a rolled-back savepoint. The payload names the schema: the channel is
        # the database's, and a worker of another schema's deployment must not take it for its own.
        add_statement(session, "SELECT pg_notify('bpm_wakeup', current_schema())")
        session.info[_NOTIFIED] = True


@event.listens_for(Session, "after_transaction_end")
def _new_transaction_notifies_again(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_NOTIFIED, None)
