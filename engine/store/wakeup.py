"""Telling timer workers that a unit of work moved an instance's wake-up earlier."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def announce_wakeup(session: Session) -> None:
    """Tell timer workers a wake-up moved earlier: NOTIFY on PostgreSQL, in-process at commit."""
    # engine.worker's after_commit hook reads the flag; NOTIFY is transactional, sent at commit.
    session.info["bpm_wakeup"] = True
    if session.get_bind().dialect.name == "postgresql":
        # No autoflush: NOTIFY needs none of the unit's pending rows, which go out in its final flush.
        with session.no_autoflush:
            session.execute(text("SELECT pg_notify('bpm_wakeup', '')"))
