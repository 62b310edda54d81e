"""The locking read that opens a unit of work: cached Core statements, their rows made into ORM objects.

Through the ORM, locking an instance and reading it with its version's hash and its open task rows
cost about twice the same statement sent on the session's connection: the ORM's compile step, its
per-entity row loading and the populate_existing bookkeeping. Here the rows come from cached Core
statements (the same columns, hence the same type conversions) and become objects as that query
made them: a row the session does not hold yet becomes a new object, persistent and clean in its
identity map (make_transient_to_detached + add); an object it holds is refreshed in place, as
populate_existing does. Changes the session holds to instances or task rows are flushed first, as
the query's autoflush did. A rollback expires both like any loaded object, and
engine.store.unit_rows writes their changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Table, and_, bindparam, inspect, select
from sqlalchemy.orm import ColumnProperty, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from engine.store.models import ProcessInstance, ProcessVersion, TaskRow
from engine.store.unit_rows import INSTANCES, TASKS, flush_pending

M = TypeVar("M", ProcessInstance, TaskRow)

VERSIONS: Table = ProcessVersion.__table__  # type: ignore[assignment]


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
    return (select(*_INSTANCE_COLUMNS, VERSIONS.c.content_hash, VERSIONS.c.version, snapshot_version,
                   *_TASK_COLUMNS)
            .select_from(joined).where(INSTANCES.c.id == owner).with_for_update(of=INSTANCES))


# Built once: constructing a statement took longer than running it.
LOCK_BY_TASK = _by_task()
LOCK_BY_ID = select(*_INSTANCE_COLUMNS).where(INSTANCES.c.id == bindparam("instance_id")).with_for_update()
OPEN_TASKS = select(*_TASK_COLUMNS).where(TASKS.c.instance_id == bindparam("instance_id"),
                                          TASKS.c.status == "open")


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
    found = connection.execute(LOCK_BY_TASK, {"task_id": task_id}).all()
    if not found:
        return None
    first = found[0]
    inst = _as_object(session, ProcessInstance, _INSTANCE_KEYS, first[:_I])
    content_hash, version, snapshot_version = first[_I:_I + 3]
    if snapshot_version != inst.row_version:
        # The lock waited: a fresh statement sees the task rows the previous holder committed
        # (SQLite took its write lock at BEGIN, so it never gets here).
        rows: Sequence[Any] = connection.execute(OPEN_TASKS, {"instance_id": inst.id}).all()
    else:
        rows = [r[_I + 3:] for r in found if r[_I + 3] is not None]
    open_rows = [_as_object(session, TaskRow, _TASK_KEYS, r) for r in rows]
    return Locked(inst, content_hash, version, open_rows)


def lock_instance(session: Session, instance_id: int) -> ProcessInstance | None:
    """Lock an instance row (FOR UPDATE; SQLite holds the write lock from BEGIN IMMEDIATE) and read it."""
    flush_pending(session, ProcessInstance, TaskRow)
    row = session.connection().execute(LOCK_BY_ID, {"instance_id": instance_id}).first()
    return None if row is None else _as_object(session, ProcessInstance, _INSTANCE_KEYS, row)


def _as_object(session: Session, model: type[M], keys: tuple[str, ...], values: Sequence[Any]) -> M:
    """Return the row as the session's object, as a query with populate_existing would."""
    held = session.identity_map.get(model.__mapper__.identity_key_from_primary_key((values[0],)))
    if held is None:
        obj = model()
        instance_dict(obj).update(zip(keys, values, strict=True))
        make_transient_to_detached(obj)  # every attribute committed as loaded, the key from its id
        session.add(obj)
        return obj
    # Refreshed in place: whoever holds the object sees the locked row, nothing left to flush.
    session.expire(held)
    for key, value in zip(keys, values, strict=True):
        set_committed_value(held, key, value)
    return held
