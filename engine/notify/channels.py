"""Managing webhook channels: add, list, switch off, and send a test message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import domain
from engine.errors import InvalidData, NotFound
from engine.notify.events import Event
from engine.notify.formats import FORMATS
from engine.notify.models import Channel, Notification
from engine.notify.outbox import write
from engine.store.inbox import user_roles
from engine.store.wakeup import announce_wakeup


def add_webhook(session: Session, url: str, *, fmt: str = "generic", roles: Sequence[str] = (),
                users: Sequence[str] = (), actor: str = "", now: datetime) -> Channel:
    """Add a webhook; raise InvalidData naming each bad field (URL, format, unknown role or user)."""
    errors: dict[str, list[str]] = {}
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = [f"{url!r} is not an http(s) URL"]
    if fmt not in FORMATS:
        errors["format"] = [f"{fmt!r} is not one of {', '.join(FORMATS)}"]
    bad_roles = [r for r in roles if not domain.current().is_known_role(r)]
    if bad_roles:
        errors["role"] = [f"unknown role(s): {', '.join(bad_roles)}"]
    bad_users = [u for u in users if user_roles(session, u) is None]
    if bad_users:
        errors["user"] = [f"no active user named {', '.join(bad_users)}"]
    if errors:
        raise InvalidData("webhook refused", errors)
    channel = Channel(kind="webhook", format=fmt, url=url.strip(), roles=sorted(set(roles)),
                      users=sorted(set(users)), active=True, created_at=now, created_by=actor)
    session.add(channel)
    session.flush()
    return channel


def list_channels(session: Session) -> list[Channel]:
    """Return every channel, oldest first."""
    return list(session.scalars(select(Channel).order_by(Channel.id)))


def set_active(session: Session, channel_id: int, active: bool) -> Channel:
    """Switch a channel on or off (its pending deliveries are dropped when off)."""
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"notification channel {channel_id} does not exist")
    channel.active = active
    return channel


def send_test(session: Session, channel_id: int, *, actor: str, now: datetime) -> Notification:
    """Queue a test notification to one channel only; the worker delivers it like any other."""
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"notification channel {channel_id} does not exist")
    ev = Event("process", None, now, actor=actor, title_zh="测试通知", title_en="Test notification",
               message_zh=f"来自 PropertyFlow 的测试消息（渠道 {channel_id}）",
               message_en=f"A test message from PropertyFlow (channel {channel_id})")
    note_id = write(session, ev, [channel], only=True)
    assert note_id is not None  # a channel given explicitly always receives it
    announce_wakeup(session)
    note = session.get(Notification, note_id)
    assert note is not None
    return note
