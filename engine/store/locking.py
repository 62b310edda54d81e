"""The locking read that opens a unit of work: cached Core statements, their rows made into ORM objects.

Through the ORM, locking an instance and reading it with its version's hash and its open task rows
cost about twice the same statement sent on the session's connection: the ORM's compile step, its
per-entity row loading and the populate_existing bookkeeping. Here the rows come from Core
statements prepared once per database (engine.store.prepared: the same columns, hence the same type
conversions, without Connection.execute's per-call machinery) and become objects as that query
made them: a row the session does not hold yet becomes a new object, persistent and clean in its
identity map (as the ORM's loading makes one); an object it holds is refreshed in place, as
populate_existing does. Changes the session holds to instances or task rows are flushed first, as
the query's autoflush did. A rollback expires both like any loaded object, and
engine.store.unit_rows writes their changes.

The same statement reads the audience token (engine/notify/directory.py), which triggers change with
every change to users and their roles: read under the unit's lock it is current, so a user's roles kept
at that token answer for the database without a read of their own (engine.store.inbox.user_roles).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Table, and_, bindparam, event, inspect, select
from sqlalchemy.orm import ColumnProperty, ORMExecuteState, Session, SessionTransaction, scoped_session
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.unitofwork import UOWTransaction

from engine.notify.models import AudienceVersion
from engine.store.models import ProcessInstance, ProcessVersion, TaskRow, User, UserRole
from engine.store.prepared import PreparedRead
from engine.store.unit_rows import INSTANCES, TASKS, flush_pending

M = TypeVar("M", ProcessInstance, TaskRow)

VERSIONS: Table = ProcessVersion.__table__  # type: ignore[assignment]
TOKEN: Table = AudienceVersion.__table__  # type: ignore[assignment]
# A scalar subquery in the lock's select list: no statement of its own, and FOR UPDATE leaves its row alone.
_TOKEN = select(TOKEN.c.token).scalar_subquery()


def _mapped_columns(model: type) -> tuple[tuple[str, ...], list[ColumnElement[Any]]]:
    """Return a model's attribute names and their columns, in the mapper's order."""
    attrs: list[ColumnProperty[Any]] = list(inspect(model).column_attrs)
    return tuple(a.key for a in attrs), [a.columns[0] for a in attrs]


_INSTANCE_KEYS, _INSTANCE_COLUMNS = _mapped_columns(ProcessInstance)
_TASK_KEYS, _TASK_COLUMNS = _mapped_columns(TaskRow)
_I, _T = len(_INSTANCE_KEYS), len(_TASK_KEYS)


def _by_task() -> Any:
    """Build the statement that locks a task's instance and reads it with its version and open tasks."""
    # A task never moves to another instance, so the subquery is safe outside the lock.
    owner = select(TASKS.c.instance_id).where(TASKS.c.id == bindparam("task_id")).scalar_subquery()
    # The row version in the statement's snapshot: when the lock had to wait for another unit's commit,
    # PostgreSQL hands back the instance row as that unit left it but the joined task rows as the
    # snapshot saw them, and the two versions differ.
    seen = INSTANCES.alias("seen")
    snapshot_version = select(seen.c.row_version).where(seen.c.id == INSTANCES.c.id).scalar_subquery()
    joined = (INSTANCES.join(VERSIONS, VERSIONS.c.id == INSTANCES.c.version_id)
              .outerjoin(TASKS, and_(TASKS.c.instance_id == INSTANCES.c.id, TASKS.c.status == "open")))
    return (select(*_INSTANCE_COLUMNS, VERSIONS.c.content_hash, VERSIONS.c.version, snapshot_version, _TOKEN,
                   *_TASK_COLUMNS)
            .select_from(joined).where(INSTANCES.c.id == owner).with_for_update(of=INSTANCES))


# Built once: constructing a statement took longer than running it; compiled once per database.
LOCK_BY_TASK = PreparedRead(_by_task())
LOCK_BY_ID = PreparedRead(select(*_INSTANCE_COLUMNS, _TOKEN).where(INSTANCES.c.id == bindparam("instance_id"))
                      .with_for_update(of=INSTANCES))
OPEN_TASKS = PreparedRead(select(*_TASK_COLUMNS).where(TASKS.c.instance_id == bindparam("instance_id"),
                                                   TASKS.c.status == "open"))


class Locked(NamedTuple):
    """An instance locked for a unit of work, with its version's hash and number and its open task rows."""

    instance: ProcessInstance
    content_hash: str
    version: int
    open_rows: list[TaskRow]


def lock_by_task(session: Session, task_id: str) -> Locked | None:
    """Lock a task's instance and read it with its version and open task rows; None when no such task."""
    flush_pending(session, ProcessInstance, TaskRow)
    connection = session.connection()
    found = LOCK_BY_TASK.rows(connection, {"task_id": task_id})
    if not found:
        return None
    first = found[0]
    inst = _as_object(session, ProcessInstance, _INSTANCE_KEYS, first[:_I])
    content_hash, version, snapshot_version, token = first[_I:_I + 4]
    _note_token(session, token)
    if snapshot_version != inst.row_version:
        # The lock waited: a fresh statement sees the task rows the previous holder committed
        # (SQLite took its write lock at BEGIN, so it never gets here).
        rows: Sequence[Any] = OPEN_TASKS.rows(connection, {"instance_id": inst.id})
    else:
        rows = [r[_I + 4:] for r in found if r[_I + 4] is not None]
    open_rows = [_as_object(session, TaskRow, _TASK_KEYS, r) for r in rows]
    return Locked(inst, content_hash, version, open_rows)


def lock_instance(session: Session, instance_id: int) -> ProcessInstance | None:
    """Lock an instance row (FOR UPDATE; SQLite holds the write lock from BEGIN IMMEDIATE) and read it."""
    flush_pending(session, ProcessInstance, TaskRow)
    rows = LOCK_BY_ID.rows(session.connection(), {"instance_id": instance_id})
    if not rows:
        return None
    _note_token(session, rows[0][_I])
    return _as_object(session, ProcessInstance, _INSTANCE_KEYS, rows[0][:_I])


# session.info key: the audience token the transaction's latest locking read returned, while it holds.
LOCK_TOKEN = "bpm_lock_token"
_DIRECTORY = (User, UserRole)  # what a user's roles are read from (their changes change the token)
_DIRECTORY_TABLES = frozenset(m.__tablename__ for m in _DIRECTORY)


def token_at_lock(session: Session) -> str | None:
    """Return the audience token the transaction's lock read; None outside a unit or once it changed users."""
    return session.info.get(LOCK_TOKEN)


def _note_token(session: Session, token: str | None) -> None:
    if token is None:  # a database without the token's row: nothing kept can be checked
        session.info.pop(LOCK_TOKEN, None)
    else:
        session.info[LOCK_TOKEN] = token


@event.listens_for(Session, "after_flush")
def _forget_token_on_flushed_users(session: Session, _flush: UOWTransaction) -> None:
    # This transaction changed users or roles after its lock: the token it read no longer says what it sees
    # (the trigger gave the database a new one). Its next reads of roles go to the database.
    if LOCK_TOKEN in session.info and any(type(o) in _DIRECTORY for objects in (
            session.new, session.dirty, session.deleted) for o in objects):
        session.info.pop(LOCK_TOKEN)


@event.listens_for(Session, "do_orm_execute")
def _forget_token_on_executed_users(state: ORMExecuteState) -> None:
    # The same for an UPDATE or DELETE of users or roles sent through the session (engine.users does).
    session = state.session
    if LOCK_TOKEN in session.info and not state.is_select:
        table = getattr(state.statement, "table", None)
        if table is None or getattr(table, "name", None) in _DIRECTORY_TABLES:
            session.info.pop(LOCK_TOKEN)


@event.listens_for(Session, "after_transaction_end")
def _forget_token_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    # The token holds for this transaction only: the next one reads its own with its lock.
    if transaction.parent is None:
        session.info.pop(LOCK_TOKEN, None)


def _as_object(session: Session, model: type[M], keys: tuple[str, ...], values: Sequence[Any]) -> M:
    """Return the row as the session's object, as a query with populate_existing would."""
    mapper = model.__mapper__
    identity = mapper.identity_key_from_primary_key((values[0],))
    held = session.identity_map.get(identity)
    if held is None:
        # A row the session has not seen, made as the ORM's loading makes one (orm/loading.py,
        # _instance): no constructor, the loaded values as the committed state, the identity key set
        # and the state put in the identity map. make_transient_to_detached + Session.add did the same
        # with cascades and events on the way, at three times the cost (SQLAlchemy pinned below 2.2).
        obj: M = mapper.class_manager.new_instance()
        state = instance_state(obj)
        state.dict.update(zip(keys, values, strict=True))
        state.key = identity
        real = session() if isinstance(session, scoped_session) else session
        state.session_id = real.hash_key
        real.identity_map._add_unpresent(state, identity)  # noqa: SLF001
        return obj
    # Refreshed in place: whoever holds the object sees the locked row, nothing left to flush.
    session.expire(held)
    for key, value in zip(keys, values, strict=True):
        set_committed_value(held, key, value)
    return held
