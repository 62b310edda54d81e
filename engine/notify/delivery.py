"""Delivering the outbox: claim a due delivery, send it outside any transaction, record the attempt.

Each attempt is two short transactions: the claim commits the attempt (and a lease: the row is due
again only after `lease` seconds), then the outcome commits `sent`, or the next try after a doubling
backoff, or `dead` after `max_attempts`. A worker killed between the two leaves the row to be sent
again when the lease ends, with the same idempotency key (HTTP header `Idempotency-Key`, e-mail
`Message-ID`), so a receiver applies it once; a delivery committed as sent is never sent again.
PostgreSQL workers claim with FOR UPDATE SKIP LOCKED; SQLite's BEGIN IMMEDIATE serialises claims.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.notify import formats, transports
from engine.notify.events import Event
from engine.notify.models import Channel, Delivery, DeliveryAttempt, Notification
from engine.notify.outbox import DELIVERED_BY_CALLER, record
from engine.store.models import TaskRow

log = logging.getLogger(__name__)
SessionFactory = Callable[[], Session]
BASE_URL_ENV = "BPM_BASE_URL"
LEAD_ENV = "BPM_NOTIFY_LEAD_MINUTES"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Policy:
    """How deliveries are retried and where links point."""

    retry_base: float = 5.0  # seconds before the second attempt; doubling after that
    retry_max: float = 3600.0
    max_attempts: int = 10
    lease: float = 3 * transports.TIMEOUT + 5  # a claimed send not finished by then is tried again
    lead: timedelta = timedelta(minutes=15)  # "deadline near" this long before a task is due
    base_url: str = "http://localhost:5000"
    smtp_url: str | None = None
    clock: Callable[[], datetime] = field(default=_now)

    @classmethod
    def from_env(cls) -> Policy:
        """Return the policy the environment configures (BPM_BASE_URL, BPM_SMTP_URL, lead minutes)."""
        lead = float(os.environ.get(LEAD_ENV) or 15)
        return cls(base_url=os.environ.get(BASE_URL_ENV) or cls.base_url, smtp_url=transports.smtp_url(),
                   lead=timedelta(minutes=lead))

    def backoff(self, attempts: int) -> float:
        """Return the wait in seconds after the given number of failed attempts."""
        return min(self.retry_base * 2 ** max(attempts - 1, 0), self.retry_max)


@dataclass
class _Claim:
    delivery_id: int
    attempt_id: int
    channel: str
    address: str
    key: str
    attempts: int


def _claim(session: Session, policy: Policy, now: datetime) -> _Claim | None:
    """Lock the most overdue pending delivery nobody holds, start an attempt and lease it."""
    row = session.scalar(select(Delivery).where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                         .order_by(Delivery.next_attempt_at, Delivery.id).limit(1)
                         .with_for_update(skip_locked=True))
    if row is None:
        return None
    row.attempts += 1
    row.next_attempt_at = now + timedelta(seconds=policy.lease)
    attempt = DeliveryAttempt(delivery_id=row.id, at=now, ok=False, detail="sending")
    session.add(attempt)
    session.flush()
    return _Claim(row.id, attempt.id, row.channel, row.address, row.idempotency_key, row.attempts)


def _send(session: Session, claim: _Claim, policy: Policy) -> str:
    """Send one delivery; return what the receiver said or raise SendError."""
    delivery = session.get(Delivery, claim.delivery_id)
    note = session.get(Notification, delivery.notification_id) if delivery is not None else None
    if note is None:
        raise transports.SendError("the notification is gone")
    kind, _, target = claim.channel.partition(":")
    if kind == "webhook":
        channel = session.get(Channel, int(target)) if target.isdigit() else None
        if channel is None or not channel.active:
            raise _Abandon("the webhook was removed or switched off")
        body = formats.BODIES[channel.format](note, policy.base_url)
        return transports.post_json(channel.url, body, claim.key)
    if kind == "email":
        if not policy.smtp_url:
            raise transports.SendError(f"{transports.SMTP_URL_ENV} is not set")
        message = formats.email(note, policy.base_url, transports.sender(policy.smtp_url), claim.address,
                                claim.key)
        return transports.send_mail(policy.smtp_url, message)
    raise _Abandon(f"unknown channel {claim.channel!r}")


class _Abandon(Exception):
    """A delivery that can never go through (its channel is gone): no more attempts."""


def deliver_one(session_factory: SessionFactory, policy: Policy) -> bool:
    """Claim, send and settle one due delivery; return False when none was due."""
    with session_factory() as session:
        claim = _claim(session, policy, policy.clock())
        session.commit()
    if claim is None:
        return False
    ok, final, detail = False, False, ""
    with session_factory() as session:
        try:
            detail = _send(session, claim, policy)
            ok = final = True
        except _Abandon as exc:
            final, detail = True, str(exc)
        except transports.SendError as exc:
            detail = str(exc)
        session.rollback()  # the read above took no locks worth keeping during the send
    with session_factory() as session:
        row = session.get(Delivery, claim.delivery_id, with_for_update=True)
        attempt = session.get(DeliveryAttempt, claim.attempt_id)
        now = policy.clock()
        if attempt is not None:
            attempt.ok, attempt.detail = ok, detail[:2000]
        if row is not None and row.status == "pending":
            row.last_error = "" if ok else detail[:2000]
            if ok:
                row.status, row.sent_at, row.next_attempt_at = "sent", now, None
            elif final or row.attempts >= policy.max_attempts:
                row.status, row.next_attempt_at = "dead", None
            else:
                row.next_attempt_at = now + timedelta(seconds=policy.backoff(row.attempts))
        session.commit()
    if not ok:
        log.warning("delivery %s (%s) attempt %d failed: %s", claim.delivery_id, claim.channel,
                    claim.attempts, detail)
    return True


def deliver_due(session_factory: SessionFactory, policy: Policy, limit: int | None = None,
                stop: Callable[[], bool] = lambda: False) -> int:
    """Deliver everything due now; return how many attempts were made."""
    done = 0
    while (limit is None or done < limit) and not stop():
        try:
            if not deliver_one(session_factory, policy):
                break
        except Exception:
            log.exception("delivering notifications failed; trying again at the next wake-up")
            break
        done += 1
    return done


def scan_deadlines(session_factory: SessionFactory, policy: Policy) -> int:
    """Write a "deadline near" notification for each open task due within the lead time."""
    now = policy.clock()
    written = 0
    with session_factory() as session:
        tasks = list(session.execute(select(
            TaskRow.id, TaskRow.instance_id, TaskRow.element_id, TaskRow.role, TaskRow.assignee,
            TaskRow.due_at, TaskRow.title_zh, TaskRow.title_en, TaskRow.instance_title).where(
            TaskRow.status == "open", TaskRow.completed_at.is_(None), TaskRow.overdue.is_(False),
            TaskRow.due_at > now, TaskRow.due_at <= now + policy.lead).order_by(TaskRow.due_at).limit(500)))
        keys = {task.id: f"deadline_near:{task.id}:{task.due_at.isoformat()}" for task in tasks}
        # One query for the tasks already told, instead of one per task on every wake-up.
        told = set(session.scalars(select(Notification.dedupe_key).where(
            Notification.dedupe_key.in_(list(keys.values()))))) if keys else set()
        session.rollback()
    for task in tasks:
        key = keys[task.id]
        if key in told:
            continue
        ev = Event("deadline_near", task.instance_id, now, users=(task.assignee,) if task.assignee else (),
                   roles=() if task.assignee else (task.role,), task_id=task.id, element_id=task.element_id,
                   role=task.role, assignee=task.assignee, due_at=task.due_at, title_zh=task.title_zh,
                   title_en=task.title_en, message_zh=task.instance_title, message_en=task.instance_title,
                   dedupe_key=key)
        with session_factory() as session:
            session.info[DELIVERED_BY_CALLER] = True  # deliver_due runs right after the scan
            try:
                written += record(session, [ev])
                session.commit()
            except IntegrityError:
                session.rollback()  # another worker wrote it first
    return written


def next_due(session: Session, policy: Policy) -> datetime | None:
    """Return when the next delivery is due or the next task's deadline comes within the lead time."""
    times = [session.scalar(select(func.min(Delivery.next_attempt_at)).where(Delivery.status == "pending"))]
    upcoming = session.scalar(select(func.min(TaskRow.due_at)).where(
        TaskRow.status == "open", TaskRow.completed_at.is_(None), TaskRow.overdue.is_(False),
        TaskRow.due_at > policy.clock() + policy.lead))
    if upcoming is not None:
        times.append(upcoming - policy.lead)
    found = [t for t in times if t is not None]
    return min(found) if found else None
