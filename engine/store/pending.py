"""Rows a unit of work appends (history, and any other append-only table), written in one insert per table.

This is the one place to add rows that must commit with the instance: call `add_row(session, table,
values)` anywhere in the unit; each table's rows go out in one INSERT (no RETURNING; an executemany on
SQLite, VALUES lists on PostgreSQL) with the unit's own rows when the façade flushes (`take_pending`, one
pipeline on PostgreSQL), or by `write_pending` when the session commits, and a rollback drops them.
A statement whose effect only counts at commit (PostgreSQL's NOTIFY) can ride along the same way
(`add_statement`), and so can a statement whose outcome the caller only needs afterwards (`add_send`:
the outbox's notifications).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction

from engine.store.prepared import PreparedWrite, prepared, run

Then = Callable[[int], None]  # told how many rows its statement returned or changed, once it has run
Send = tuple[Any, list[dict[str, Any]], Then | None]  # a statement (prepared or Core), its rows, follow-up
Rows = dict[Table, list[dict[str, Any]]]
_BEFORE_SENDING: list[Callable[[Session], None]] = []


@dataclass
class _Pending:
    """What a transaction queued to go out with its units' rows, and the rows it has written so far."""

    rows: Rows = field(default_factory=dict)  # by table, in the order tables were first used
    sends: list[Send] = field(default_factory=list)  # statements whose outcome the caller needs afterwards
    statements: dict[str, None] = field(default_factory=dict)  # SQL without parameters, sent once, last
    written: Rows = field(default_factory=dict)  # already inserted, for readers such as the outbox


_KEY = "bpm_pending"  # session.info: the transaction's _Pending


def _pending(session: Session) -> _Pending:
    found: _Pending | None = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = _Pending()
    return found


def add_row(session: Session, table: Table, values: dict[str, Any]) -> None:
    """Queue one row for `table`, to be inserted with the unit's other rows of that table."""
    add_rows(session, table, [values])


def add_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Queue rows for `table`, to be inserted with the unit's other rows of that table."""
    _pending(session).rows.setdefault(table, []).extend(rows)


def add_written(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Record rows of `table` the caller inserted itself in this transaction, for `rows_of`."""
    _pending(session).written.setdefault(table, []).extend(rows)


def add_statement(session: Session, sql: str) -> None:
    """Queue a statement without parameters (e.g. a NOTIFY) to go out with the unit's queued rows, once."""
    # Only for statements whose effect waits for the commit anyway: it is sent later than it is queued,
    # and a savepoint rolled back in between does not take it back.
    _pending(session).statements[sql] = None


def add_send(session: Session, target: Any, rows: list[dict[str, Any]], then: Then) -> None:
    """Queue a statement to go out with the unit's queued rows; `then` gets its row count afterwards."""
    _pending(session).sends.append((target, rows, then))


def before_sending(hook: Callable[[Session], None]) -> Callable[[Session], None]:
    """Register `hook` to run as the façade's flush sends a unit's rows, to queue more to go with them."""
    _BEFORE_SENDING.append(hook)
    return hook


def run_before_sending(session: Session) -> None:
    """Run the registered hooks (engine.store.unit_rows calls this before it takes the queued rows)."""
    for hook in _BEFORE_SENDING:
        hook(session)


def forget_written(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Take back rows recorded with `add_written` that were not inserted after all."""
    pending: _Pending | None = session.info.get(_KEY)
    written = pending.written.get(table, []) if pending is not None else []
    written[:] = [row for row in written if not any(row is gone for gone in rows)]


def write_pending(session: Session) -> int:
    """Insert every queued row, one statement per table in the order tables were first used; return rows."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None or not (pending.rows or pending.sends or pending.statements):
        return 0
    connection = session.connection()  # on the unit's connection: no ORM execute, no autoflush
    count = sum(len(rows) for rows in pending.rows.values())
    for target, rows, then in take_pending(session, connection.dialect):
        result = run(connection, target, rows)
        if then is not None:
            then(result.rowcount)
    return count


def take_pending(session: Session, dialect: Dialect) -> list[Send]:
    """Return what is queued (statement, rows, follow-up) for the caller to send now, rows marked written.

    A statement is prepared for the dialect (engine.store.prepared) when it can be, else a Core insert.
    The caller calls each follow-up with its statement's row count once it has run.
    """
    pending = _pending(session)
    queued, later, statements = pending.rows, pending.sends, pending.statements
    pending.rows, pending.sends, pending.statements = {}, [], {}
    sends: list[Send] = []
    for table, rows in queued.items():
        columns = tuple(rows[0])
        if len(rows) > 1 and dialect.name == "postgresql":
            # VALUES lists, prepared once per row count: psycopg sent an executemany's rows one Bind and
            # Execute each, with its per-statement work every time (2.5 % of an instance). SQLite runs an
            # executemany in one call. (An array per column, unnested, cost 6 % more than either.)
            for start in range(0, len(rows), VALUES_ROWS):
                chunk = rows[start:start + VALUES_ROWS]
                numbered = {f"{k}_{i}": v for i, row in enumerate(chunk) for k, v in row.items()}
                sends.append((_insert_values(table, columns, len(chunk), dialect), [numbered], None))
        else:
            sends.append((_insert(table, columns, dialect), rows, None))
        pending.written.setdefault(table, []).extend(rows)
    sends.extend(later)
    for sql in statements:
        sends.append((PreparedWrite(sql, (), dialect.positional, False), [{}], None))
    return sends


def _insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> Any:
    """Return the INSERT of a table's rows with these columns, prepared for the dialect if it can be."""
    # inline(): no RETURNING of a single row's new id, which a pipeline could not answer in time.
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table).inline()
    return prepared(dialect, ("insert", table, columns), lambda: (statement, columns)) or statement


_INSERTS: dict[Table, Any] = {}
# Rows per VALUES list: bounds the statements prepared per table and the parameters per statement
# (PostgreSQL takes at most 65,535); a unit rarely adds more than a few rows to a table.
VALUES_ROWS = 32


def _insert_values(table: Table, columns: tuple[str, ...], count: int, dialect: Dialect) -> Any:
    """Return the INSERT of `count` rows of a table in one VALUES list, prepared if it can be."""
    def build() -> tuple[Any, None]:
        values = [{k: bindparam(f"{k}_{i}", type_=table.c[k].type) for k in columns} for i in range(count)]
        return insert(table).values(values), None

    return prepared(dialect, ("insert values", table, columns, count), build) or build()[0]


def rows_of(session: Session, table: Table) -> list[dict[str, Any]]:
    """Return the rows of `table` this transaction added so far, written or still queued, in order."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None:
        return []
    return [*pending.written.get(table, []), *pending.rows.get(table, [])]


def drop_pending(session: Session) -> None:
    """Forget queued rows and the record of written ones (their transaction ended)."""
    session.info.pop(_KEY, None)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    # Units that end in a recorded failure commit without the façade's final flush.
    write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_at_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction (commit or rollback): a failing script's savepoint must not drop
    # the unit's rows.
    if transaction.parent is None:
        drop_pending(session)
