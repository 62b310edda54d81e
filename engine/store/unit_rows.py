"""A unit's instance and task rows, written with cached Core statements instead of the ORM's flush.

The ORM flush of one changed row cost about 90 µs here against 13 µs for the same UPDATE as a cached
Core statement: on the hot path (every completion changes its instance and one or two task rows and
adds one or two) the flush was the largest single cost. `write_rows` sends those rows itself and then
registers them with the session as its flush would, so the objects the façade returns stay live and
clean. Anything else in the session (another model, a deletion) leaves the whole flush to the ORM.
On PostgreSQL they and the unit's queued rows (history) go out in one psycopg pipeline: one round trip
for all of them instead of one each, the version check read when it ends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, insert, inspect, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from engine.store.db import is_postgresql
from engine.store.models import ProcessInstance, TaskRow
from engine.store.pending import take_pending

INSTANCES: Table = ProcessInstance.__table__  # type: ignore[assignment]
TASKS: Table = TaskRow.__table__  # type: ignore[assignment]
VERSION = "row_version"

_updates: dict[tuple[str, tuple[str, ...]], Any] = {}
_INSERT_TASKS = insert(TASKS).inline()  # no RETURNING: it may go in a pipeline, whose answers come late


def _scalar_defaults(table: Table) -> dict[str, Any]:
    """Return the columns' Python defaults (e.g. overdue=False): the ORM applies them at flush, we here."""
    return {c.key: c.default.arg for c in table.columns if isinstance(c.default, ScalarElementColumnDefault)}


_TASK_DEFAULTS = _scalar_defaults(TASKS)
_INSERT_INSTANCE = insert(INSTANCES)
_INSTANCE_DEFAULTS = _scalar_defaults(INSTANCES)


def _update_statement(table: Table, columns: tuple[str, ...]) -> Any:
    """Return the cached UPDATE of these columns by id (guarded by the row version on instances)."""
    key = (table.name, columns)
    found = _updates.get(key)
    if found is None:
        values: dict[Any, Any] = {table.c[name]: bindparam(f"v_{name}") for name in columns}
        found = update(table).where(table.c.id == bindparam("w_id"))
        if VERSION in table.c:
            found = found.where(table.c[VERSION] == bindparam("w_old"))
            values[table.c[VERSION]] = bindparam("w_new")
        found = _updates[key] = found.values(values)
    return found


def write_rows(session: Session) -> bool:
    """Write the unit's new and changed instance and task rows, then its queued rows; False: the ORM's turn.

    On PostgreSQL they go out in one pipeline: one round trip instead of one per statement.
    """
    new, dirty = list(session.new), list(session.dirty)
    if session.deleted or any(type(o) is not TaskRow for o in new) or any(
            type(o) is not TaskRow and type(o) is not ProcessInstance for o in dirty):
        return False
    sends: list[tuple[Any, Any]] = []  # (statement, parameters), in order
    guarded: list[tuple[ProcessInstance, int, int]] = []  # (instance, its old row version, its send)
    written = []
    # Instances first: their version checks' answers come back before any later statement can fail.
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for obj in dirty:
        state = inspect(obj)
        written.append(state)  # clean afterwards, also when nothing it holds changed
        changed = tuple(sorted(k for k in state.committed_state if k != VERSION))
        if not changed:
            continue
        params = {f"v_{k}": getattr(obj, k) for k in changed}
        params["w_id"] = obj.id
        if type(obj) is ProcessInstance:
            old = obj.row_version
            params["w_old"], params["w_new"] = old, old + 1
            guarded.append((obj, old, len(sends)))
            sends.append((_update_statement(INSTANCES, changed), params))
        else:
            grouped.setdefault(changed, []).append(params)
    sends.extend((_update_statement(TASKS, changed), rows) for changed, rows in grouped.items())
    if new:
        sends.append((_INSERT_TASKS, [_values(row, TASKS, _TASK_DEFAULTS) for row in new]))
        written.extend(inspect(row) for row in new)
    sends.extend(take_pending(session))
    results: list[Any] = []
    try:
        _send(session, sends, results)
    except DBAPIError:
        _check_versions(guarded, results)  # a lost race is the cause, whatever statement after it failed
        raise
    _check_versions(guarded, results)
    for obj, old, _index in guarded:
        obj.row_version = old + 1
    _persisted(session, written)
    return True


def _send(session: Session, sends: list[tuple[Any, Any]], results: list[Any]) -> None:
    """Execute the statements in order, appending their results; one round trip for all on PostgreSQL."""
    if not sends:
        return
    connection = session.connection()
    driver = connection.dialect.loaded_dbapi
    if len(sends) == 1 or not is_postgresql(connection) or not driver.Pipeline.is_supported():
        # SQLite answers in-process: nothing to save (nor without libpq 14's pipeline mode).
        results.extend(connection.execute(statement, params) for statement, params in sends)
        return
    # psycopg's pipeline: the answers all arrive at the block's end, so nothing inside reads a result. A
    # statement's error may surface there, from the driver: raised as SQLAlchemy raises the others.
    try:
        with connection.connection.driver_connection.pipeline():  # type: ignore[union-attr]
            for statement, params in sends:
                results.append(connection.execute(statement, params))
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
    values = _values(inst, INSTANCES, _INSTANCE_DEFAULTS, skip="id")
    key = session.connection().execute(_INSERT_INSTANCE, values).inserted_primary_key
    assert key is not None  # a single-row INSERT always names its key
    inst.id = key[0]
    session.add(inst)
    _persisted(session, [inspect(inst)])


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


def _values(obj: Any, table: Table, defaults: dict[str, Any], skip: str = "") -> dict[str, Any]:
    """Return an object's column values for its INSERT, the columns' defaults applied to the object too."""
    values = {}
    loaded = obj.__dict__
    for column in table.columns:
        key = column.key
        if key == skip:
            continue
        if key not in loaded and key in defaults:
            setattr(obj, key, defaults[key])
        values[key] = getattr(obj, key)
    return values
