"""Loaded workflows kept per process by (database, instance id, row_version), so a hot instance is not
deserialized again on its next step.

An entry is taken out while a unit uses it and put back only after that unit commits, under the row
version the commit wrote; a rollback leaves nothing behind. Every write of an instance row bumps its
`row_version` (the ORM's version counter), so a stale entry can never match again and ages out.
Anything that changes `state` without the ORM must bump `row_version` too.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction

SIZE = 512  # workflows per database per process; a repair instance is tens of kB in memory
_KEY = "bpm_keep_workflows"
_lock = threading.Lock()
_caches: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[int, int], Any]] = weakref.WeakKeyDictionary()


def _cache(session: Session) -> OrderedDict[tuple[int, int], Any]:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    found = _caches.get(engine)
    if found is None:
        found = _caches.setdefault(engine, OrderedDict())
    return found


def take(session: Session, instance_id: int, row_version: int) -> Any | None:
    """Return the workflow committed at this row version and remove it (one unit uses it at a time)."""
    with _lock:
        return _cache(session).pop((instance_id, row_version), None)


def keep_after_commit(session: Session, instance_id: int, row_version: int, workflow: Any) -> None:
    """Remember a workflow once this session commits the row version it was saved with."""
    session.info.setdefault(_KEY, {})[instance_id] = (row_version, workflow)


def clear() -> None:
    """Forget every kept workflow (tests; a process that changed its domain)."""
    with _lock:
        _caches.clear()


@event.listens_for(Session, "after_commit")
def _keep(session: Session) -> None:
    kept: dict[int, tuple[int, Any]] | None = session.info.pop(_KEY, None)
    if not kept:
        return
    with _lock:
        cache = _cache(session)
        for instance_id, (row_version, workflow) in kept.items():
            cache[(instance_id, row_version)] = workflow
            cache.move_to_end((instance_id, row_version))
        while len(cache) > SIZE:
            cache.popitem(last=False)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # A rolled-back outermost transaction: its workflows may hold steps that never happened.
    if transaction.parent is None:
        session.info.pop(_KEY, None)
