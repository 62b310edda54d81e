"""Hot reads compiled once per database, sent on the DB-API cursor, their rows read as SQLAlchemy reads them.

For the locking read that opens every unit of work, Connection.execute spent as long around the
statement as SQLite spent running it: the statement's cache key looked up, an execution context,
the result's metadata and a Row per row, each of these built anew for each call. A `Prepared`
statement does that work once per dialect: its SQL text, the order of its parameters and the
result processors of its columns (the ones SQLAlchemy applies, from the same column types). A
call binds the parameters, runs the SQL through the dialect's `do_execute` (so it behaves, and is
timed, like any other statement) and processes the rows; a driver error is raised as SQLAlchemy
raises it, and a lost connection is invalidated as SQLAlchemy would. When anything watches the
connection's statements (event listeners, echo), the statement goes through Connection.execute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]


class _Compiled:
    """One statement compiled for one dialect, with its parameter order and column processors."""

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.compiled = compiled
        self.positional: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional \
            else None
        binds = [(name, bind.type.dialect_impl(dialect).bind_processor(dialect))
                 for name, bind in compiled.binds.items()]
        self.binds: list[tuple[str, Processor]] = [(n, p) for n, p in binds if p is not None]
        columns = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                   for c in statement.selected_columns]
        self.columns: list[tuple[int, Processor]] = [(i, p) for i, p in enumerate(columns) if p is not None]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """Return the DB-API parameters for these values: a tuple or a dict, as the driver takes them."""
        bound = self.compiled.construct_params(dict(values))
        assert bound is not None  # a compiled SELECT always has its parameter dict
        for name, process in self.binds:
            bound[name] = process(bound[name])
        return tuple(bound[name] for name in self.positional) if self.positional is not None else bound

    def run(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute on the connection's DB-API connection and return the processed rows."""
        dialect = connection.dialect
        parameters = self.parameters(values)
        dbapi_connection = connection.connection
        cursor = dbapi_connection.cursor()
        try:
            dialect.do_execute(cursor, self.sql, parameters, None)
            rows = cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:
            lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
            if lost:
                connection.invalidate(exc)
            raise DBAPIError.instance(self.sql, parameters, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from exc
        finally:
            cursor.close()
        if not self.columns:
            return [tuple(row) for row in rows]
        processed = []
        for row in rows:
            cells = list(row)
            for index, process in self.columns:
                cells[index] = process(cells[index])
            processed.append(tuple(cells))
        return processed


class Prepared:
    """A SELECT compiled once per dialect; `rows` runs it and returns its rows as plain tuples."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement with these parameter values on the connection; return its processed rows."""
        if connection._has_events or connection.engine._has_events or connection._echo:  # noqa: SLF001
            # Something watches every statement (an event listener, echo): the usual way, so it sees this one.
            return [tuple(row) for row in connection.execute(self.statement, values)]
        found = self._compiled.get(connection.dialect)
        if found is None:
            found = self._compiled[connection.dialect] = _Compiled(self.statement, connection.dialect)
        return found.run(connection, values)
