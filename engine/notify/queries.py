"""Read side of the in-app channel: a user's notifications, unread count, and marking them read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.notify.models import Channel, Delivery, Notification


@dataclass(frozen=True)
class InAppView:
    """One line of a user's notification list."""

    id: int  # the delivery's id: what "mark read" names
    event: str
    urgent: bool
    title_zh: str
    title_en: str
    message_zh: str
    message_en: str
    path: str
    created_at: datetime
    read: bool


@dataclass(frozen=True)
class Badge:
    """What the bell shows; `tag` changes whenever the list does (the polling ETag)."""

    unread: int
    tag: str


def badge(session: Session, username: str) -> Badge:
    """Return the unread count and a tag that changes with any new or newly read notification."""
    channel = f"app:{username}"
    unread, newest = session.execute(
        select(func.count(Delivery.id).filter(Delivery.read_at.is_(None)), func.max(Delivery.id))
        .where(Delivery.channel == channel)).one()
    return Badge(int(unread or 0), f"{unread or 0}-{newest or 0}")


def recent(session: Session, username: str, limit: int = 50) -> list[InAppView]:
    """Return a user's newest in-app notifications."""
    rows = session.execute(
        select(Delivery.id, Delivery.read_at, Notification).join(Notification,
                                                                Notification.id == Delivery.notification_id)
        .where(Delivery.channel == f"app:{username}").order_by(Delivery.id.desc()).limit(limit)).all()
    return [InAppView(did, n.event, n.urgent, n.title_zh, n.title_en, n.message_zh, n.message_en, n.path,
                      n.created_at, read_at is not None) for did, read_at, n in rows]


def mark_read(session: Session, username: str, now: datetime, delivery_id: int | None = None) -> int:
    """Mark one (or every) unread in-app notification of the user read; return how many changed."""
    query = update(Delivery).where(Delivery.channel == f"app:{username}", Delivery.read_at.is_(None))
    if delivery_id is not None:
        query = query.where(Delivery.id == delivery_id)
    return session.execute(query.values(read_at=now)).rowcount or 0  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ChannelView:
    """One webhook on the admin page, with how its deliveries went."""

    id: int
    format: str
    url: str
    roles: list[str]
    users: list[str]
    active: bool
    sent: int
    pending: int
    dead: int


def channel_views(session: Session) -> list[ChannelView]:
    """Return every webhook with counts of sent, pending and failed deliveries."""
    counts: dict[tuple[str, str], int] = {
        (channel, status): n for channel, status, n in session.execute(
            select(Delivery.channel, Delivery.status, func.count()).where(Delivery.channel.like("webhook:%"))
            .group_by(Delivery.channel, Delivery.status)).all()}
    out = []
    for c in session.scalars(select(Channel).order_by(Channel.id)):
        key = f"webhook:{c.id}"
        out.append(ChannelView(c.id, c.format, c.url, list(c.roles or []), list(c.users or []), c.active,
                               counts.get((key, "sent"), 0), counts.get((key, "pending"), 0),
                               counts.get((key, "dead"), 0)))
    return out
