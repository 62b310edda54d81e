"""Rows a unit of work appends (history, and any other append-only table), written in one insert per table.

This is the one place to add rows that must commit with the instance: call `add_row(session, table,
values)` anywhere in the unit; each table's rows go out as one executemany INSERT (no RETURNING) with
the unit's own rows when the façade flushes (`take_pending`, one pipeline on PostgreSQL), or by
`write_pending` when the session commits, and a rollback drops them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction

from engine.store.prepared import prepared, run

_KEY = "bpm_pending_rows"
_WRITTEN = "bpm_written_rows"  # rows already inserted in this transaction, for readers such as the outbox


def add_row(session: Session, table: Table, values: dict[str, Any]) -> None:
    """Queue one row for `table`, to be inserted with the unit's other rows of that table."""
    add_rows(session, table, [values])


def add_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Queue rows for `table`, to be inserted with the unit's other rows of that table."""
    queued: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_KEY, {})
    queued.setdefault(table, []).extend(rows)


def add_written(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Record rows of `table` the caller inserted itself in this transaction, for `rows_of`."""
    session.info.setdefault(_WRITTEN, {}).setdefault(table, []).extend(rows)


def write_pending(session: Session) -> int:
    """Insert every queued row, one statement per table in the order tables were first used; return rows."""
    if not session.info.get(_KEY):
        return 0
    connection = session.connection()  # on the unit's connection: no ORM execute, no autoflush
    sends = take_pending(session, connection.dialect)
    for target, rows in sends:
        run(connection, target, rows)
    return sum(len(rows) for _target, rows in sends)


def take_pending(session: Session, dialect: Dialect) -> list[tuple[Any, list[dict[str, Any]]]]:
    """Return the queued rows' inserts (statement, rows) for the caller to send now, recorded as written.

    A statement is prepared for the dialect (engine.store.prepared) when it can be, else a Core insert.
    """
    queued: dict[Table, list[dict[str, Any]]] | None = session.info.pop(_KEY, None)
    sends = []
    for table, rows in (queued or {}).items():
        # executemany of one statement: SQLite runs it in one call, psycopg pipelines it in one round
        # trip. (A multi-VALUES insert is compiled anew for each row count: it cost more than it saved.)
        sends.append((_insert(table, tuple(rows[0]), dialect), rows))
        add_written(session, table, rows)
    return sends


def _insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> Any:
    """Return the INSERT of a table's rows with these columns, prepared for the dialect if it can be."""
    # inline(): no RETURNING of a single row's new id, which a pipeline could not answer in time.
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = insert(table).inline()
    return prepared(dialect, ("insert", table, columns), lambda: (statement, columns)) or statement


_INSERTS: dict[Table, Any] = {}


def rows_of(session: Session, table: Table) -> list[dict[str, Any]]:
    """Return the rows of `table` this transaction added so far, written or still queued, in order."""
    written = session.info.get(_WRITTEN, {}).get(table, [])
    queued = session.info.get(_KEY, {}).get(table, [])
    return [*written, *queued]


def drop_pending(session: Session) -> None:
    """Forget queued rows and the record of written ones (their transaction ended)."""
    session.info.pop(_KEY, None)
    session.info.pop(_WRITTEN, None)


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
