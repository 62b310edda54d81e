"""Drafts: a process owner's saved edit of a process, kept apart from the deployed versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.errors import InvalidData
from engine.messages import msg
from engine.store.models import ProcessDraft

MAX_DRAFT_BYTES = 5_000_000


@dataclass(frozen=True)
class DraftView:
    """One owner's draft of a process, as the editor shows it."""

    process_key: str
    owner: str
    bpmn_xml: str
    base_hash: str
    saved_at: datetime


def _view(row: ProcessDraft) -> DraftView:
    return DraftView(row.process_key, row.owner, row.bpmn_xml, row.base_hash, row.saved_at)


def save_draft(session: Session, process_key: str, owner: str, xml: str, base_hash: str,
               now: datetime) -> DraftView:
    """Store (or replace) the owner's draft of a process; nothing is deployed."""
    if len(xml.encode("utf-8")) > MAX_DRAFT_BYTES:
        too_big = msg("the diagram is larger than {n} bytes", n=MAX_DRAFT_BYTES)
        raise InvalidData(str(too_big), {"xml": [too_big]})
    row = session.scalar(select(ProcessDraft).where(ProcessDraft.process_key == process_key,
                                                    ProcessDraft.owner == owner))
    if row is None:
        row = ProcessDraft(process_key=process_key, owner=owner, bpmn_xml=xml, base_hash=base_hash,
                           saved_at=now)
        session.add(row)
    else:
        row.bpmn_xml, row.base_hash, row.saved_at = xml, base_hash, now
    session.flush()
    return _view(row)


def discard_draft(session: Session, process_key: str, owner: str) -> bool:
    """Delete the owner's draft of a process; tell whether there was one."""
    result = session.execute(delete(ProcessDraft).where(ProcessDraft.process_key == process_key,
                                                        ProcessDraft.owner == owner))
    return bool(getattr(result, "rowcount", 0))


def drafts_of(session: Session, process_key: str) -> list[DraftView]:
    """Return every owner's draft of a process, the most recently saved first."""
    rows = session.scalars(select(ProcessDraft).where(ProcessDraft.process_key == process_key)
                           .order_by(ProcessDraft.saved_at.desc(), ProcessDraft.owner))
    return [_view(row) for row in rows]


def all_drafts(session: Session) -> list[DraftView]:
    """Return every draft (the process list shows which processes someone is editing)."""
    rows = session.scalars(select(ProcessDraft).order_by(ProcessDraft.process_key, ProcessDraft.owner))
    return [_view(row) for row in rows]
