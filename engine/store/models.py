"""Database tables of the engine: definitions, instances, inbox, history, users (a domain adds its own)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry, relationship
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are reproducible on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",  # all columns: PostgreSQL names are schema-wide
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


_SQLITE_FORMAT = SQLITE_DATETIME._storage_format  # noqa: SLF001 (the default text form of SQLite timestamps)


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always hand back aware UTC values (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and normalise to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        """Return SQLAlchemy's processor; on SQLite one step giving the same text as its two."""
        impl = self.impl_instance.dialect_impl(dialect)
        if not isinstance(impl, SQLITE_DATETIME) or impl._storage_format != _SQLITE_FORMAT:  # noqa: SLF001
            return super().bind_processor(dialect)
        # Every timestamp of a unit's rows passes here: this process_bind_param and SQLite DATETIME's
        # "%(year)04d-…%(microsecond)06d" formatting of a dict of its fields cost about twice this. A
        # unit binds its one `now` again and again (instance, task rows, history): the last text is kept.
        utc = UTC
        last: list[tuple[datetime | None, str | None]] = [(None, None)]

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            seen, text = last[0]  # one tuple, read at once: another thread may replace it meanwhile
            if value is seen:
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database; pass an aware datetime")
            text = value.astimezone(utc).replace(tzinfo=None).isoformat(" ", "microseconds")
            last[0] = (value, text)
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to values read back."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base shared by the engine and the web app."""

    # One registry (not per-class attributes), so Flask-SQLAlchemy can adopt this base as its model class.
    registry = registry(metadata=MetaData(naming_convention=NAMING),
                        type_annotation_map={dict[str, Any]: JSON, datetime: UTCDateTime()})


class User(Base):
    """A member of staff who signs in and works tasks."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    # Part of every session cookie's stamp; signing out bumps it, so a copied cookie dies with it.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set on accounts whose password is public (`bpm demo`): the web app insists on a new one first.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_ids(self) -> frozenset[str]:
        """Return the role ids this user holds."""
        return frozenset(r.role for r in self.roles)


class UserRole(Base):
    """One role held by one user."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    user: Mapped[User] = relationship(back_populates="roles")


class ProcessVersion(Base):
    """One deployed version of a process, stored once per content hash."""

    __tablename__ = "process_versions"
    __table_args__ = (
        UniqueConstraint("process_key", "version"),
        # Not unique: an older version's file deployed again (a change taken back) is a new version.
        Index("ix_process_versions_key_hash", "process_key", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    # Task titles, lanes, forms, assignment and separation rules, extracted at deploy time so that
    # listing tasks never needs to parse BPMN or load a workflow.
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    filename: Mapped[str] = mapped_column(String(255), default="")
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(64), default="")


class ProcessDraft(Base):
    """A process owner's unsaved-to-a-version edit of one process: one draft per owner and key."""

    __tablename__ = "process_drafts"
    __table_args__ = (UniqueConstraint("process_key", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    # The content hash of the version the draft was started from ("" for a new process).
    base_hash: Mapped[str] = mapped_column(String(64), default="")
    saved_at: Mapped[datetime]


WAKEUP = text("next_wakeup_at IS NOT NULL")
INSTANCE_FILLFACTOR = 70  # percent of a process_instances page that inserts fill (migration r0011)


class ProcessInstance(Base):
    """One running or finished case; its state blob refers to its version instead of embedding it."""

    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_instances_status_started", "status", "started_at", postgresql_include=["id"]),
        # Search filters end in started_at: the newest-first page reads 25 index entries, not every match.
        Index("ix_instances_key_status_started", "process_key", "status", "started_at"),
        # The timer worker's claims (both ask for a wake-up time): only cases waiting for one are in it.
        Index("ix_instances_wakeup", "status", "next_wakeup_at", sqlite_where=WAKEUP,
              postgresql_where=WAKEUP),
        Index("ix_instances_unit_started", "unit", "started_at"),
        Index("ix_instances_started_by_started", "started_by", "started_at"),
        # "Running and overdue" reads a range of this index instead of joining every open task.
        Index("ix_instances_status_due", "status", "due_at", postgresql_include=["started_at", "id"]),
        # PostgreSQL: inserts leave 30 % of each page free (a row with its state is 1-2 kB), so a unit that
        # changes no indexed column writes the new row version on its page with no index entry (a HOT
        # update), and a pruned page takes the next version; at 100 % a full page sent it to another page
        # and into all eight indexes (bench: HOT 20 -> 33 % of the updates, table 2.5 -> 0.8-1.3 MB).
        {"postgresql_with": {"fillfactor": INSTANCE_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    process_key: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    next_wakeup_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Earliest deadline among the open tasks (kept with the inbox rows); in the past = overdue.
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    state_format: Mapped[int] = mapped_column(Integer)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}


# Predicates of the tasks' partial indexes; a query uses one only if its WHERE states the predicate
# (queries.list_tasks does). Open tasks are those not yet completed or cancelled: not `status = 'open'`,
# which SQLite can match against `status = ?` only by planning that statement again on every execution
# (the unit's own reads of open tasks ran 4-5x slower), and PostgreSQL's generic plans never.
OPEN = text("completed_at IS NULL")
COMPLETED_BY = text("completed_by IS NOT NULL")
FINISHED = text("completed_at IS NOT NULL")


class TaskRow(Base):
    """Inbox projection of one user task; written with the state, read without loading workflows."""

    __tablename__ = "tasks"
    __table_args__ = (
        # The inbox reads open tasks only: partial, so completing a task deletes its entries instead of
        # moving them to a "completed" part of each index (one b-tree page less to write per unit each),
        # and the indexes hold the open work, not every task ever done. Covering on PostgreSQL: inbox
        # counts, the id-only page query (queries.list_tasks) and the overdue search are answered from
        # the index, not from thousands of rows of a busy role (status included: the queries state it).
        Index("ix_tasks_open_assignee_due", "assignee", "due_at", sqlite_where=OPEN, postgresql_where=OPEN,
              postgresql_include=["created_at", "id", "role", "process_key", "overdue", "status"]),
        Index("ix_tasks_open_role_due", "role", "due_at", sqlite_where=OPEN, postgresql_where=OPEN,
              postgresql_include=["assignee", "created_at", "id", "process_key", "overdue", "instance_id",
                                  "status"]),
        Index("ix_tasks_instance", "instance_id", "status"),
        # Finished work newest first: mine (completed_by) and my roles' or everyone's (status, role).
        Index("ix_tasks_completed_by", "completed_by", "completed_at", sqlite_where=COMPLETED_BY,
              postgresql_where=COMPLETED_BY),
        Index("ix_tasks_finished", "status", "role", "completed_at", sqlite_where=FINISHED,
              postgresql_where=FINISHED),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    process_key: Mapped[str] = mapped_column(String(64))
    element_id: Mapped[str] = mapped_column(String(128))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When assigned by the process (pf:assignee) the task may not be released back to the role.
    assigned_by_process: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # open | completed | cancelled
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    instance_title: Mapped[str] = mapped_column(String(300), default="")


class HistoryEvent(Base):
    """One append-only fact about an instance: who did what, when, and what changed."""

    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_instance", "instance_id", "id"),
        # Reports read a period's events (department KPIs: task kinds since a moment). By time alone, a
        # unit's rows all land on the index's last page; by (kind, at) each kind went to its own page.
        Index("ix_history_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    element_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class CaseComment(Base):
    """A remark written on a case (and the task it was written on): what happened on site."""

    __tablename__ = "case_comments"
    __table_args__ = (Index("ix_case_comments_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)


class CaseAttachment(Base):
    """A file attached to a case: its bytes live in the file store under their SHA-256, not in a row."""

    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_case_attachments_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A personal API token: only its SHA-256 is stored; revoking keeps the row for the record."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, so a person can tell tokens apart
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


# The notification outbox's tables share this metadata (create_schema, Alembic); imported last, as it
# builds on Base.
from engine.notify import models as _notify_models  # noqa: E402,F401
