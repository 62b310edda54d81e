"""The transactional outbox: a unit's notifications and their deliveries, written before it commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import DEFAULT_ZONE
from engine.notify import prefs
from engine.notify.events import Event, changed_history, derive
from engine.notify.models import Channel, Delivery, Notification
from engine.store.inbox import role_holders
from engine.store.wakeup import announce_wakeup

# session.info key set by the worker on its own units: it delivers right after them, no wake-up needed.
DELIVERED_BY_CALLER = "bpm_notify_delivered_by_caller"


def record(session: Session, events: Iterable[Event] | None = None, zone: ZoneInfo = DEFAULT_ZONE) -> int:
    """Write the unit's notifications (derived from its history unless given); return how many."""
    if events is None:
        rows = changed_history(session)
        if not rows:
            return 0  # most units of work change nothing anyone is told about: no query at all
        events = derive(session, rows)
    written = 0
    channels: list[Channel] | None = None
    for ev in events:
        if channels is None:
            channels = list(session.scalars(select(Channel).where(Channel.active.is_(True))
                                            .order_by(Channel.id)))
        if write(session, ev, channels, zone) is not None:
            written += 1
    if written and not session.info.get(DELIVERED_BY_CALLER):
        announce_wakeup(session)  # the worker delivers at its next wake-up, right after the commit
    return written


def recipients(session: Session, ev: Event) -> list[str]:
    """Return the users an event is for: named users and every active holder of its roles."""
    names = [u for u in ev.users if u]
    for role in ev.roles:
        names.extend(role_holders(session, role))
    return [u for u in dict.fromkeys(names) if u not in ev.exclude]


def _channel_wants(channel: Channel, ev: Event, users: list[str]) -> bool:
    if not channel.roles and not channel.users:
        return True
    roles = {*ev.roles, *([ev.role] if ev.role else [])}
    return bool(roles & set(channel.roles or [])) or bool(set(users) & set(channel.users or []))


def write(session: Session, ev: Event, channels: list[Channel], zone: ZoneInfo = DEFAULT_ZONE, *,
          only: bool = False) -> Notification | None:
    """Write one notification and a delivery per channel it goes to; None when nobody gets it.

    With `only`, the given channels receive it whatever they subscribe to (a test message).
    """
    if ev.dedupe_key is not None and session.scalar(
            select(Notification.id).where(Notification.dedupe_key == ev.dedupe_key)) is not None:
        return None
    users = recipients(session, ev)
    hooks = list(channels) if only else [c for c in channels if _channel_wants(c, ev, users)]
    if not users and not hooks:
        return None
    note = Notification(
        dedupe_key=ev.dedupe_key, event=ev.kind, urgent=ev.urgent, instance_id=ev.instance_id,
        task_id=ev.task_id, element_id=ev.element_id, role=ev.role, assignee=ev.assignee, actor=ev.actor,
        title_zh=ev.title_zh[:300], title_en=ev.title_en[:300], message_zh=ev.message_zh,
        message_en=ev.message_en, due_at=ev.due_at, created_at=ev.at,
        path=_path(ev))
    session.add(note)
    session.flush()  # the id names the deliveries' idempotency keys
    stored = prefs.preferences(session, users)
    for user in users:
        pref = stored.get(user)
        if ev.kind not in prefs.muted(pref, "app"):
            _deliver(session, note, f"app:{user}", status="sent", at=ev.at)
        mailed = pref is not None and pref.email and pref.email_enabled
        if mailed and pref is not None and ev.kind not in prefs.muted(pref, "email"):
            quiet = None if ev.urgent else prefs.quiet_until(pref, ev.at, zone)
            _deliver(session, note, f"email:{user}", address=pref.email, at=quiet or ev.at)
    for hook in hooks:
        _deliver(session, note, f"webhook:{hook.id}", address=hook.url, at=ev.at)
    return note


def _path(ev: Event) -> str:
    """Return the page a notification opens: its task, else its case."""
    if ev.task_id:
        return f"/tasks/{ev.task_id}"
    return f"/records/{ev.instance_id}" if ev.instance_id else ""


def _deliver(session: Session, note: Notification, channel: str, *, at: datetime, status: str = "pending",
             address: str = "") -> None:
    # In-app rows are delivered by being written; the others wait for the worker from `at`.
    session.add(Delivery(notification_id=note.id, channel=channel, idempotency_key=f"{note.id}:{channel}",
                         address=address, status=status, attempts=0,
                         next_attempt_at=None if status == "sent" else at,
                         sent_at=at if status == "sent" else None))
