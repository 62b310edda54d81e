"""A unit's instance and task rows, written with prepared statements instead of the ORM's flush.

The ORM flush of one changed row cost about 90 µs here against 13 µs for the same UPDATE as a cached
Core statement: on the hot path (every completion changes its instance and one or two task rows and
adds one or two) the flush was the largest single cost. `write_rows` sends those rows itself and then
registers them with the session as its flush would, so the objects the façade returns stay live and
clean. Anything else in the session (another model, a deletion) leaves the whole flush to the ORM.
The statements are compiled once per dialect and their parameters converted as SQLAlchemy would
(engine.store.prepared): about half the Python a cached Core statement still cost per execution.
On PostgreSQL they and the unit's queued rows (history, the outbox's notifications, a NOTIFY) go out in
one psycopg pipeline: one round trip for all of them instead of one each, the version check read when
it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from engine.store.db import is_postgresql
from engine.store.models import ProcessInstance, TaskRow
from engine.store.pending import Send, run_before_sending, take_pending
from engine.store.prepared import PreparedWrite, prepared, run

INSTANCES: Table = ProcessInstance.__table__  # type: ignore[assignment]
TASKS: Table = TaskRow.__table__  # type: ignore[assignment]
VERSION = "row_version"


def _scalar_defaults(table: Table) -> dict[str, Any]:
    """Return the columns' Python defaults (e.g. overdue=False): the ORM applies them at flush, we here."""
    return {c.key: c.default.arg for c in table.columns if isinstance(c.default, ScalarElementColumnDefault)}


_TASK_DEFAULTS = _scalar_defaults(TASKS)
_TASK_KEYS = tuple(c.key for c in TASKS.columns)
_INSERT_TASKS = insert(TASKS).inline()  # no RETURNING: it may go in a pipeline, whose answers come late
_INSERT_INSTANCE = insert(INSTANCES)
_INSTANCE_DEFAULTS = _scalar_defaults(INSTANCES)
_INSTANCE_KEYS = tuple(c.key for c in INSTANCES.columns if c.key != "id")


def _update_statement(table: Table, columns: tuple[str, ...]) -> Any:
    """Return the UPDATE of these columns by id (guarded by the row version on instances)."""
    # Each new value is bound under its column's name: a row's parameters are its values as they are.
    values: dict[Any, Any] = {table.c[name]: bindparam(name) for name in columns}
    found = update(table).where(table.c.id == bindparam("w_id"))
    if VERSION in table.c:
        found = found.where(table.c[VERSION] == bindparam("w_old"))
        values[table.c[VERSION]] = bindparam("w_new")
    return found.values(values)


def _prepared(connection: Connection, key: tuple[Any, ...], statement: Callable[[], Any],
              column_keys: tuple[str, ...] | None = None) -> PreparedWrite:
    """Return one of this module's statements prepared for the connection's dialect."""
    found = prepared(connection.dialect, key, lambda: (statement(), column_keys))
    # Every column given, no Python-side default, no expanding list: nothing left for execution time.
    assert found is not None, f"{key} needs SQLAlchemy's execution step"
    return found


def _update(connection: Connection, table: Table, columns: tuple[str, ...]) -> PreparedWrite:
    """Return the UPDATE of these columns prepared for the connection's dialect."""
    return _prepared(connection, ("update", table, columns), lambda: _update_statement(table, columns))


def write_rows(session: Session) -> bool:
    """Write the unit's new and changed instance and task rows, then its queued rows; False: the ORM's turn.

    On PostgreSQL they go out in one pipeline: one round trip instead of one per statement.
    """
    new, dirty = session.new, session.dirty
    if session.deleted or any(type(o) is not TaskRow for o in new) or any(
            type(o) is not TaskRow and type(o) is not ProcessInstance for o in dirty):
        return False
    connection = session.connection()
    sends: list[Send] = []  # in order
    guarded: list[tuple[ProcessInstance, int, int]] = []  # (instance, its old row version, its send)
    written = []
    # Instances first: their version checks' answers come back before any later statement can fail.
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for obj in dirty:
        state = instance_state(obj)
        written.append(state)  # clean afterwards, also when nothing it holds changed
        changed = tuple(sorted(k for k in state.committed_state if k != VERSION))
        if not changed:
            continue
        loaded = state.dict  # the values just set: no instrumented attribute access needed
        params = {k: loaded[k] for k in changed}
        params["w_id"] = loaded["id"]
        if type(obj) is ProcessInstance:
            old = loaded[VERSION]
            params["w_old"], params["w_new"] = old, old + 1
            guarded.append((obj, old, len(sends)))
            sends.append((_update(connection, INSTANCES, changed), [params], None))
        else:
            grouped.setdefault(changed, []).append(params)
    sends.extend((_update(connection, TASKS, changed), rows, None) for changed, rows in grouped.items())
    if new:
        target = _prepared(connection, ("insert", TASKS), lambda: _INSERT_TASKS, _TASK_KEYS)
        sends.append((target, [_values(row, _TASK_KEYS, _TASK_DEFAULTS) for row in new], None))
        written.extend(instance_state(row) for row in new)
    # Registered before they are sent: the hooks (the outbox deriving the unit's notifications) find them
    # in the session as the unit left them, with no autoflush to send them a second way. A failure below
    # rolls the unit back, which undoes the registration as after an ORM flush.
    _persisted(session, written)
    run_before_sending(session)
    sends.extend(take_pending(session, connection.dialect))
    results: list[Any] = []
    try:
        _send(connection, sends, results)
    except DBAPIError:
        _check_versions(guarded, results)  # a lost race is the cause, whatever statement after it failed
        raise
    _check_versions(guarded, results)
    for obj, old, _index in guarded:
        obj.__dict__[VERSION] = old + 1  # the value written: loaded, hence clean
    for (_target, _rows, then), result in zip(sends, results, strict=True):
        if then is not None:
            then(_rowcount(result))  # e.g. the outbox learns whether its conditional insert was made
    return True


def _send(connection: Connection, sends: list[Send], results: list[Any]) -> None:
    """Execute the statements in order, appending their results; one round trip for all on PostgreSQL."""
    if not sends:
        return
    driver = connection.dialect.loaded_dbapi
    if len(sends) == 1 or not is_postgresql(connection) or not driver.Pipeline.is_supported():
        # SQLite answers in-process: nothing to save (nor without libpq 14's pipeline mode).
        results.extend(run(connection, target, rows) for target, rows, _then in sends)
        return
    # psycopg's pipeline: the answers all arrive at the block's end, so nothing inside reads a result. A
    # statement's error may surface there, from the driver: raised as SQLAlchemy raises the others.
    try:
        with connection.connection.driver_connection.pipeline():  # type: ignore[union-attr]
            for target, rows, _then in sends:
                results.append(run(connection, target, rows))
    except driver.Error as exc:
        raise DBAPIError.instance(None, None, exc, driver.Error, dialect=connection.dialect) from exc


def _check_versions(guarded: list[tuple[ProcessInstance, int, int]], results: list[Any]) -> None:
    """Raise StaleDataError when a guarded instance update found its row at another version."""
    for obj, old, index in guarded:
        if index < len(results) and _rowcount(results[index]) == 0:
            raise StaleDataError(f"instance {obj.id} changed since row version {old}")


def _rowcount(result: Any) -> int:
    """Return the rows an UPDATE matched, also when it went out in a pipeline."""
    # SQLAlchemy reads the count as the statement is handed over: in psycopg's pipeline that is before
    # the answer (-1), which reaches the DB-API cursor itself when the pipeline ends.
    count: int = result.rowcount
    return count if count >= 0 else result.context.cursor.rowcount


def insert_instance(session: Session, inst: ProcessInstance) -> None:
    """Insert a new instance row, giving the object its id and making it persistent in the session."""
    values = _values(inst, _INSTANCE_KEYS, _INSTANCE_DEFAULTS)
    connection = session.connection()
    target = _prepared(connection, ("insert", INSTANCES), lambda: _INSERT_INSTANCE, _INSTANCE_KEYS)
    result = target.execute(connection, [values])
    # The key as SQLAlchemy reads it: RETURNING where the dialect prefers it, else the cursor's lastrowid.
    inst.id = result.scalar_one() if target.returning else result.lastrowid
    session.add(inst)
    _persisted(session, [instance_state(inst)])


def _persisted(session: Session, states: list[Any]) -> None:
    """Tell the session these objects now hold what the database holds, as its own flush does."""
    # Session._register_persistent is the step the ORM's flush takes after its statements (stable since
    # 1.4; SQLAlchemy is pinned below 2.2): pending objects become persistent under their key, changed
    # ones clean, and the transaction records both, so a rollback expunges the inserted rows and expires
    # the updated ones exactly as after an ORM flush (tests/engine/test_unit_rows.py).
    if states:
        # The web app hands the engine Flask-SQLAlchemy's scoped session: register with the one it wraps.
        real = session() if isinstance(session, scoped_session) else session
        real._register_persistent(set(states))  # noqa: SLF001


def flush_pending(session: Session, *models: type) -> None:
    """Flush first when the session holds new or changed objects of these models (reads past the ORM)."""
    # A read on the unit's connection skips autoflush, which would send the unit's own task and
    # instance rows through the ORM's flush; it must still see a user, channel or preference this
    # same transaction added or changed.
    if any(type(o) in models for o in session.new) or any(type(o) in models for o in session.dirty):
        session.flush()


def _values(obj: Any, keys: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    """Return an object's column values for its INSERT: its __dict__, completed as the ORM's flush does."""
    loaded: dict[str, Any] = obj.__dict__
    for key in keys:
        if key not in loaded:
            # A column's default, else None (what getattr gives and what the row holds): the object is
            # registered clean right after, every column loaded.
            loaded[key] = defaults.get(key)
    return loaded
