"""Tables of the notification outbox: notifications, deliveries, attempts, channels, preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base, BigId

DEDUPED = text("dedupe_key IS NOT NULL")
PENDING = text("status = 'pending'")


class Notification(Base):
    """One event worth telling people about, written in the unit of work that caused it."""

    __tablename__ = "notifications"
    __table_args__ = (
        # Unique where set: most notifications have no key, and an index of their NULLs had no reader.
        Index("uq_notifications_dedupe_key", "dedupe_key", unique=True, sqlite_where=DEDUPED,
              postgresql_where=DEDUPED),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Set for events that a scan may find twice (a deadline drawing near): the unique index keeps one.
    dedupe_key: Mapped[str | None] = mapped_column(String(160), nullable=True)
    event: Mapped[str] = mapped_column(String(32))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Not indexed: nothing looks notifications up by case (the archive does not keep them).
    instance_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    element_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    title_zh: Mapped[str] = mapped_column(String(300), default="")
    title_en: Mapped[str] = mapped_column(String(300), default="")
    message_zh: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    path: Mapped[str] = mapped_column(String(200), default="")  # the page to open, relative to the site
    created_at: Mapped[datetime]


class Delivery(Base):
    """One notification on one channel (a user's in-app list or e-mail, or a webhook): sent at most once."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        # The delivery worker's claim: pending rows by due time. In-app rows are written sent: not in it.
        Index("ix_deliveries_status_next", "status", "next_attempt_at", sqlite_where=PENDING,
              postgresql_where=PENDING),
        # The bell: a user's unread in-app rows.
        Index("ix_deliveries_channel_read", "channel", "read_at"),
        # One delivery per notification and channel (what the idempotency key spells out); also the
        # notification's deliveries, so neither the key nor notification_id needs an index of its own.
        UniqueConstraint("notification_id", "channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    # "app:<user>", "email:<user>" or "webhook:<channel id>".
    channel: Mapped[str] = mapped_column(String(100))
    # "<notification id>:<channel>": unique as that pair is, and sent along (header / Message-ID) so
    # receivers dedupe.
    idempotency_key: Mapped[str] = mapped_column(String(140))
    address: Mapped[str] = mapped_column(String(500), default="")  # e-mail address, when e-mail
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DeliveryAttempt(Base):
    """One try at sending a delivery, with what came back."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id", ondelete="CASCADE"),
                                             index=True)
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")


class Channel(Base):
    """A webhook (generic JSON, WeCom or DingTalk group robot) and whose notifications it receives."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="webhook")
    format: Mapped[str] = mapped_column(String(16))  # generic | wecom | dingtalk
    url: Mapped[str] = mapped_column(String(1000))
    # Empty lists on both: every notification. Otherwise those for one of the roles or users.
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    users: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64), default="")


class Preference(Base):
    """A user's choices: events muted per channel, an e-mail address, quiet hours."""

    __tablename__ = "notification_preferences"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    # {"app": [...events muted...], "email": [...]}
    muted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "22:00", local time
    quiet_end: Mapped[str | None] = mapped_column(String(5), nullable=True)  # "07:00"


class AudienceVersion(Base):
    """One row: a token changed by triggers whenever users, roles, preferences or channels change."""

    __tablename__ = "notification_audience_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))


# The triggers changing the token are created with the tables (create_schema); imported last, as it
# builds on the model above.
from engine.notify import directory as _directory  # noqa: E402,F401
