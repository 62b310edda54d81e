"""Loaded workflows kept per process by (database, instance id, row_version), so a hot instance is not
deserialized again on its next step.

An entry is taken out while a unit uses it and put back only after that unit commits, under the row
version the commit wrote; a rollback leaves nothing behind. Every write of an instance row bumps its
`row_version` (the ORM's version counter), so a stale entry can never match again and ages out. An
entry also carries a fingerprint of the stored state and format it was saved as, so a row edited
behind the ORM's back (a repair by hand, a restore) is read from the database all the same.
"""

from __future__ import annotations

import threading
import weakref
import zlib
from collections import OrderedDict
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction

SIZE = 512  # workflows per database per process; a repair instance is tens of kB in memory
_KEY = "bpm_keep_workflows"
_lock = threading.Lock()
_caches: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[int, int], tuple[int, Any]]] = \
    weakref.WeakKeyDictionary()


def fingerprint(state: bytes, state_format: int) -> int:
    """Return a cheap checksum of a stored state and its format."""
    return zlib.crc32(state, state_format)


def _cache(session: Session) -> OrderedDict[tuple[int, int], tuple[int, Any]]:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    found = _caches.get(engine)
    if found is None:
        found = _caches.setdefault(engine, OrderedDict())
    return found


def take(session: Session, instance_id: int, row_version: int, stored: int) -> Any | None:
    """Return the workflow committed at this row version as this stored state, removing it (one unit
    uses it at a time); None when there is none."""
    with _lock:
        found = _cache(session).pop((instance_id, row_version), None)
    return found[1] if found is not None and found[0] == stored else None


def keep_after_commit(session: Session, instance_id: int, row_version: int, stored: int,
                      workflow: Any) -> None:
    """Remember a workflow once this session commits the row version (and stored state) it was saved as."""
    session.info.setdefault(_KEY, {})[instance_id] = (row_version, stored, workflow)


def clear() -> None:
    """Forget every kept workflow (tests; a process that changed its domain)."""
    with _lock:
        _caches.clear()


@event.listens_for(Session, "after_commit")
def _keep(session: Session) -> None:
    kept: dict[int, tuple[int, int, Any]] | None = session.info.pop(_KEY, None)
    if not kept:
        return
    with _lock:
        cache = _cache(session)
        for instance_id, (row_version, stored, workflow) in kept.items():
            cache[(instance_id, row_version)] = (stored, workflow)
            cache.move_to_end((instance_id, row_version))
        while len(cache) > SIZE:
            cache.popitem(last=False)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # A rolled-back outermost transaction: its workflows may hold steps that never happened.
    if transaction.parent is None:
        session.info.pop(_KEY, None)
