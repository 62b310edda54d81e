"""Comments and attachments on a case: what happened on site, in words and photos. Callers commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.actor import Actor
from engine.errors import InvalidData, NotFound
from engine.files.kinds import sniff, thumbnail
from engine.files.store import FileStore
from engine.store import history, queries
from engine.store.models import CaseAttachment, CaseComment, TaskRow

MAX_COMMENT = 4000
MAX_FILENAME = 255
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # a phone photo is 2–6 MB


@dataclass(frozen=True)
class CommentView:
    """A comment as pages and the API show it."""

    id: int
    instance_id: int
    task_id: str | None
    author: str
    at: datetime
    body: str


@dataclass(frozen=True)
class AttachmentView:
    """An attachment as pages and the API show it (the bytes are fetched separately)."""

    id: int
    instance_id: int
    task_id: str | None
    author: str
    at: datetime
    filename: str
    content_type: str
    size: int
    sha256: str
    thumbnail: bool


def _case(session: Session, instance_id: int, actor: Actor, now: datetime, task_id: str | None) -> None:
    """Refuse an unknown or invisible case, and a task that is not one of its own."""
    queries.get_instance(session, instance_id, actor, now)  # NotFound / Forbidden
    if task_id is not None and session.scalar(select(TaskRow.instance_id).where(TaskRow.id == task_id)) \
            != instance_id:
        raise InvalidData("task refused", {"task_id": [
            f"task {task_id} is not a task of case {instance_id}"]})


def add_comment(session: Session, instance_id: int, actor: Actor, body: str, now: datetime,
                task_id: str | None = None) -> CommentView:
    """Write a comment on a case anyone who may read it may write; it also enters the history."""
    _case(session, instance_id, actor, now, task_id)
    text = (body or "").strip()
    if not text:
        raise InvalidData("comment refused", {"body": ["write something"]})
    if len(text) > MAX_COMMENT:
        raise InvalidData("comment refused", {"body": [
            f"at most {MAX_COMMENT} characters ({len(text)} given)"]})
    row = CaseComment(instance_id=instance_id, task_id=task_id, author=actor.username, at=now, body=text)
    session.add(row)
    session.flush()
    history.record(session, instance_id, "comment", now, actor=actor.username, task_id=task_id,
                   message=text, details={"comment_id": row.id})
    return _comment_view(row)


def add_attachment(session: Session, store: FileStore, instance_id: int, actor: Actor, filename: str,
                   data: bytes, now: datetime, task_id: str | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> AttachmentView:
    """Attach a photo or PDF to a case: bytes to the file store by SHA-256, a row and a history entry."""
    _case(session, instance_id, actor, now, task_id)
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:MAX_FILENAME] or "file"
    if not data:
        raise InvalidData("attachment refused", {"file": ["the file is empty"]})
    if len(data) > max_bytes:
        raise InvalidData("attachment refused", {"file": [
            f"{name} is {len(data) / 1048576:.1f} MB; at most {max_bytes / 1048576:.0f} MB"]})
    kind = sniff(data)
    if kind is None:
        raise InvalidData("attachment refused", {"file": [
            f"{name} is not a photo (JPEG, PNG, WebP, HEIC) or a PDF"]})
    small = thumbnail(data, kind)
    digest = store.put(data, small)
    row = CaseAttachment(instance_id=instance_id, task_id=task_id, author=actor.username, at=now,
                         filename=name, content_type=kind, size=len(data), sha256=digest,
                         thumbnail=small is not None)
    session.add(row)
    session.flush()
    history.record(session, instance_id, "attachment", now, actor=actor.username, task_id=task_id,
                   message=name, details={"attachment_id": row.id})
    return _attachment_view(row)


def comments(session: Session, instance_id: int, actor: Actor, now: datetime) -> list[CommentView]:
    """Return a case's comments, oldest first, if the actor may read the case."""
    queries.get_instance(session, instance_id, actor, now)
    rows = session.scalars(select(CaseComment).where(CaseComment.instance_id == instance_id)
                           .order_by(CaseComment.id))
    return [_comment_view(r) for r in rows]


def attachments(session: Session, instance_id: int, actor: Actor, now: datetime) -> list[AttachmentView]:
    """Return a case's attachments, oldest first, if the actor may read the case."""
    queries.get_instance(session, instance_id, actor, now)
    rows = session.scalars(select(CaseAttachment).where(CaseAttachment.instance_id == instance_id)
                           .order_by(CaseAttachment.id))
    return [_attachment_view(r) for r in rows]


def attachment(session: Session, attachment_id: int, actor: Actor, now: datetime) -> AttachmentView:
    """Return one attachment if the actor may read its case."""
    row = session.get(CaseAttachment, attachment_id)
    if row is None:
        raise NotFound(f"attachment {attachment_id} does not exist")
    queries.get_instance(session, row.instance_id, actor, now)
    return _attachment_view(row)


def _comment_view(row: CaseComment) -> CommentView:
    return CommentView(row.id, row.instance_id, row.task_id, row.author, row.at, row.body)


def _attachment_view(row: CaseAttachment) -> AttachmentView:
    return AttachmentView(row.id, row.instance_id, row.task_id, row.author, row.at, row.filename,
                          row.content_type, row.size, row.sha256, row.thumbnail)


def as_dict(view: CommentView | AttachmentView) -> dict[str, Any]:
    """Return a JSON-able dict of a view."""
    from dataclasses import asdict

    return asdict(view)
