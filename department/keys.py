"""The key register (鑰匙登記): append-only history per key and the current status it adds up to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from department.models import KeyEvent, KeyStatus
from department.services import ServiceError

# Kinds of key (seed 001 制度3 A–C, 制度13 §1–2): a unit's key, a plant room's, security's sealed master set.
KEY_KINDS: dict[str, tuple[str, str]] = {
    "unit": ("单元钥匙", "Unit key"),
    "plant_room": ("机房钥匙", "Plant-room key"),
    "master": ("保安封存总钥匙", "Sealed master set"),
}
STATUSES: dict[str, tuple[str, str]] = {
    "in_custody": ("保管中", "In custody"),
    "sealed": ("已封存", "Sealed"),
    "out": ("借出", "Out on loan"),
    "lost": ("遗失", "Lost"),
    "released": ("已交还业户", "Released to the owner"),
}
NONE = "none"  # status of a key the register has never seen


@dataclass(frozen=True)
class Move:
    """What one kind of register event may follow and what it leaves behind."""

    allowed_from: frozenset[str]
    status_after: str | None  # None: the status stays (a found key is only recorded)
    needs_seal: bool = False


MOVES: dict[str, Move] = {
    "handover": Move(frozenset({NONE, "released"}), "in_custody"),
    "seal": Move(frozenset({"in_custody"}), "sealed", needs_seal=True),
    "reseal": Move(frozenset({"sealed"}), "sealed", needs_seal=True),
    "release": Move(frozenset({"in_custody", "sealed"}), "released"),
    "issue": Move(frozenset({"in_custody"}), "out"),
    "return": Move(frozenset({"out"}), "in_custody"),
    "lost": Move(frozenset({"in_custody", "sealed", "out"}), "lost"),
    "lock_changed": Move(frozenset({"lost", "in_custody"}), "in_custody"),
    "found": Move(frozenset({NONE, "in_custody", "sealed", "out", "lost", "released"}), None),
    "seal_broken": Move(frozenset({"sealed"}), "sealed", needs_seal=True),
}
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "handover": ("交接入库", "Handed over"), "seal": ("封存", "Sealed"), "reseal": ("重新封存", "Resealed"),
    "release": ("交还业户", "Released"), "issue": ("借出", "Lent"), "return": ("归还", "Returned"),
    "lost": ("遗失备案", "Reported lost"), "lock_changed": ("换锁配钥", "Lock changed"),
    "found": ("拾交记录", "Found and handed in"), "seal_broken": ("封存异常处理", "Seal incident"),
}


def status_of(session: Session, key_id: str) -> KeyStatus | None:
    """Return the key's current status row (None when the register has never seen it)."""
    return session.get(KeyStatus, key_id)


def state(session: Session, key_id: str) -> str:
    """Return the key's status id, or 'none'."""
    row = status_of(session, key_id)
    return row.status if row is not None else NONE


def seal_number(session: Session, key_id: str) -> str:
    """Return the seal number on the key now ('' when it is not sealed)."""
    row = status_of(session, key_id)
    return (row.seal_number or "") if row is not None and row.status == "sealed" else ""


def record(session: Session, *, key_id: str, event: str, actor: str, now: datetime, kind: str = "unit",
           seal: str | None = None, holder: str | None = None, instance_id: int | None = None,
           note: str = "") -> KeyEvent:
    """Append one history line and move the key's status with it; refuse a move the status forbids."""
    key_id = str(key_id or "").strip()
    if not key_id:
        raise ServiceError("key register: the key (unit) is empty")
    move = MOVES.get(event)
    if move is None:
        raise ServiceError(f"key register: unknown event '{event}'")
    row = session.get(KeyStatus, key_id, with_for_update=True)
    before = row.status if row is not None else NONE
    if before not in move.allowed_from:
        raise ServiceError(f"key register: key '{key_id}' is {before}; '{event}' needs one of "
                           f"{', '.join(sorted(move.allowed_from))}")
    if move.needs_seal and not str(seal or "").strip():
        raise ServiceError(f"key register: '{event}' of key '{key_id}' needs a seal number")
    if kind not in KEY_KINDS:
        raise ServiceError(f"key register: unknown key kind '{kind}'")
    status_after = move.status_after or before
    seal_after = str(seal).strip() if status_after == "sealed" and seal else (
        row.seal_number if row is not None and status_after == "sealed" else None)
    # Who holds the key: named by the event (the borrower, the keeper) or kept from the line before.
    holder_after = holder if holder is not None else (row.holder if row is not None else None)
    line = KeyEvent(key_id=key_id, kind=row.kind if row is not None else kind, event=event,
                    status_after=status_after, seal_after=seal_after, holder_after=holder_after,
                    instance_id=instance_id, actor=actor, note=str(note or "")[:2000], at=now)
    session.add(line)
    session.flush()
    if status_after == NONE:  # a key found before the register ever saw it stays out of the status table
        return line
    if row is None:
        row = KeyStatus(key_id=key_id, kind=line.kind, status=status_after, seal_number=seal_after,
                        holder=holder_after, last_event_id=line.id, updated_at=now)
        session.add(row)
    else:
        row.status, row.seal_number, row.holder = status_after, seal_after, holder_after
        row.last_event_id, row.updated_at = line.id, now
    return line


def history_query(key_id: str | None = None, *, newest_first: bool = False) -> Select[Any]:
    """Return the query of history lines in entry order, optionally of one key."""
    query = select(KeyEvent).order_by(KeyEvent.id.desc() if newest_first else KeyEvent.id)
    return query.where(KeyEvent.key_id == key_id) if key_id else query


def statuses(session: Session, key_id: str | None = None) -> list[KeyStatus]:
    """Return the current status of every key (or one), by key."""
    query = select(KeyStatus).order_by(KeyStatus.key_id)
    return list(session.scalars(query.where(KeyStatus.key_id == key_id) if key_id else query))


def rebuild(session: Session) -> dict[str, tuple[str, str, str | None, str | None, int]]:
    """Return each key's status as its history adds up to: key → (kind, status, seal, holder, last line)."""
    out: dict[str, tuple[str, str, str | None, str | None, int]] = {}
    for line in session.scalars(history_query()):
        if line.status_after == NONE:
            continue
        out[line.key_id] = (line.kind, line.status_after, line.seal_after, line.holder_after, line.id)
    return out


def register_agrees(session: Session) -> list[str]:
    """The key register's status table must equal what its history adds up to (bpm check)."""
    out: list[str] = []
    rebuilt = rebuild(session)
    stored = {r.key_id: (r.kind, r.status, r.seal_number, r.holder, r.last_event_id)
              for r in session.scalars(select(KeyStatus))}
    for key_id in sorted(set(rebuilt) | set(stored)):
        have, want = stored.get(key_id), rebuilt.get(key_id)
        if have is None:
            out.append(f"key {key_id}: history says {want[1] if want else '?'} but the register has no row")
        elif want is None:
            out.append(f"key {key_id}: register says {have[1]} but it has no history")
        elif have != want:
            out.append(f"key {key_id}: register says {have[1]} seal {have[2]!r} holder {have[3]!r} "
                       f"(line {have[4]}), history adds up to {want[1]} seal {want[2]!r} "
                       f"holder {want[3]!r} (line {want[4]})")
    return out
