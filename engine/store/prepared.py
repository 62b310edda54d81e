"""Hot statements compiled once per dialect, their parameters and rows converted as SQLAlchemy converts them.

Even a cached Core statement pays SQLAlchemy's per-execution work: the compiled-cache key and lookup,
an execution context, a parameter dictionary per row, each bind processor through its generic loop,
result metadata and a Row per row. For the few statements every unit of work sends, that was as long
as the database spent running them. Here a statement is compiled once per dialect and keeps the bind
and result processors of that compilation (SQLAlchemy's own, so the driver sees the same values):
- `PreparedWrite` (the unit's inserts and updates, and a single row whose RETURNING is read) runs on
  the DB-API cursor as the reads do, under the same conditions; in psycopg's pipeline its row count is
  read off that cursor once the pipeline has answered;
- `PreparedRead` (the locking read, the newest version, a user's roles) runs through the dialect's
  `do_execute` on the DB-API cursor; a driver error is raised as SQLAlchemy raises it, a lost
  connection is invalidated, and when anything watches the connection's statements (event listeners,
  echo) the read goes through `Connection.execute` so it is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Convert = Callable[[Any], Any]
Processor = Convert | None  # None: the value goes to the driver as it is


class PreparedWrite:
    """One statement's SQL text for a dialect and how to turn a row of values into its parameters."""

    __slots__ = ("_fixed", "_plan", "_positional", "returning", "sql")

    def __init__(self, sql: str, plan: tuple[tuple[str, Processor], ...], positional: bool,
                 returning: bool, fixed: Mapping[str, Any] | None = None) -> None:
        self.sql = sql
        self._plan = plan  # (bind name, its processor or None), in the SQL's order
        self._positional = positional
        self.returning = returning  # it hands back the new row's key (else: the cursor's lastrowid)
        self._fixed = dict(fixed or {})  # named binds whose (converted) value the statement itself gives

    def params(self, values: Mapping[str, Any]) -> Any:
        """Return one row's parameters in the driver's form (a tuple, or a dict for named styles)."""
        if self._positional:
            return tuple([values[k] if f is None else f(values[k]) for k, f in self._plan])
        given = {k: values[k] if f is None else f(values[k]) for k, f in self._plan}
        return {**self._fixed, **given} if self._fixed else given

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        """Execute for one row, or executemany for several; return a CursorResult or a `Written`."""
        if len(rows) == 1:
            parameters: Any = self.params(rows[0])
        else:
            parameters = [self.params(r) for r in rows]
        if not self.returning and _on_the_cursor(connection):
            # SQLAlchemy's execution step (its context, a CursorResult) was the larger part of a short
            # write's time on SQLite (4-6 % of an instance; 1 % on PostgreSQL): count and key come off
            # the cursor.
            return _on_cursor(connection, self.sql, parameters, many=len(rows) > 1)
        return connection.exec_driver_sql(self.sql, parameters)

    def returned(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """Execute for one row and return the one row its RETURNING gives, as the driver gives it."""
        if not _on_the_cursor(connection):
            return tuple(connection.exec_driver_sql(self.sql, self.params(values)).one())
        # On the DB-API cursor, as PreparedRead's reads: a CursorResult built for one returned row (its
        # metadata from the cursor's description, a Row, `one()`) cost twice the statement itself.
        [row] = _on_cursor(connection, self.sql, self.params(values), fetch=True)
        return tuple(row)


class Written:
    """What a write sent on the DB-API cursor reports, as a CursorResult would: rows matched, new key."""

    __slots__ = ("_cursor", "_rowcount", "lastrowid")

    def __init__(self, rowcount: int, lastrowid: int | None, cursor: Any = None) -> None:
        self._rowcount = rowcount
        self.lastrowid = lastrowid
        self._cursor = cursor  # psycopg's, kept: in a pipeline its count arrives when the pipeline answers

    @property
    def rowcount(self) -> int:
        """Return the rows the statement matched (-1 while its pipeline has not answered)."""
        return self._rowcount if self._cursor is None else int(self._cursor.rowcount)


def compile_prepared(statement: ClauseElement, dialect: Dialect,
                     column_keys: Sequence[str] | None = None) -> PreparedWrite | None:
    """Compile a statement for the dialect; None when it needs SQLAlchemy at execution time."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(column_keys or ()) or None)
    if (compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params
            or compiled.post_compile_params or compiled.escaped_bind_names or compiled.schema_translate_map):
        # Python-side defaults, expanding lists, renamed binds: SQLAlchemy's execution step does work here.
        return None
    processors = _bind_processors(compiled)
    # Binds given a value in the statement (a literal the expression language bound): the same every time.
    fixed = {name: bind.value for bind, name in compiled.bind_names.items() if not bind.required}
    if fixed and (compiled.positional or any(bind.callable for bind in compiled.bind_names)):
        return None  # their place among positional parameters, or a value computed per execution
    names = compiled.positiontup if compiled.positional else list(compiled.bind_names.values())
    plan = tuple((name, processors.get(name)) for name in names if name not in fixed)
    converted = {name: value if processors.get(name) is None else processors[name](value)
                 for name, value in fixed.items()}
    return PreparedWrite(compiled.string, plan, compiled.positional, bool(compiled.effective_returning),
                         converted)


def _bind_processors(compiled: Any) -> dict[str, Convert]:
    """Return, by bind name, the conversions SQLAlchemy applies to a compiled statement's parameters."""
    return dict(compiled._bind_processors)  # noqa: SLF001 (only the binds whose type converts are named)


_cache: WeakKeyDictionary[Dialect, dict[Hashable, PreparedWrite | None]] = WeakKeyDictionary()
_last: tuple[Dialect | None, dict[Hashable, PreparedWrite | None]] = (None, {})  # a process mostly has one


def prepared(dialect: Dialect, key: Hashable, build: Callable[[], tuple[ClauseElement, Sequence[str] | None]]
             ) -> PreparedWrite | None:
    """Return the statement `build` makes, compiled once per dialect under `key`; None: use Core."""
    global _last  # one tuple, replaced whole: safe across threads
    last_dialect, found = _last
    if last_dialect is not dialect:
        found = _cache.get(dialect) or _cache.setdefault(dialect, {})
        _last = (dialect, found)
    try:
        return found[key]
    except KeyError:
        statement, column_keys = build()
        made = found[key] = compile_prepared(statement, dialect, column_keys)
        return made


def run(connection: Connection, target: PreparedWrite | Any, rows: Sequence[Mapping[str, Any]]) -> Any:
    """Execute a prepared statement, or a Core one, for these rows (executemany for several)."""
    if isinstance(target, PreparedWrite):
        return target.execute(connection, rows)
    return connection.execute(target, rows)


def _watched(connection: Connection) -> bool:
    """Tell whether something watches the connection's statements (event listeners, echo)."""
    return bool(connection._has_events or connection.engine._has_events or connection._echo)  # noqa: SLF001


def _on_the_cursor(connection: Connection) -> bool:
    """Tell whether a write may go straight to the DB-API cursor: in a transaction, unwatched."""
    # Outside a transaction the usual way begins one.
    return connection.in_transaction() and not _watched(connection)


def _on_cursor(connection: Connection, sql: str, parameters: Any, *, fetch: bool = False,
               many: bool = False) -> Any:
    """Execute on the connection's DB-API cursor; return its rows (`fetch`) or what it wrote.

    A driver error is raised as SQLAlchemy raises it, a lost connection invalidated.
    """
    dialect = connection.dialect
    dbapi_connection = connection.connection
    cursor = dbapi_connection.cursor()
    kept = False
    try:
        if many:
            dialect.do_executemany(cursor, sql, parameters, None)
        else:
            dialect.do_execute(cursor, sql, parameters, None)
        if fetch:
            return cursor.fetchall()
        if dialect.name == "postgresql":
            # psycopg's cursor holds no server resource: kept, in a pipeline its count comes when it ends.
            kept = True
            return Written(-1, None, cursor)
        return Written(cursor.rowcount, cursor.lastrowid)
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(sql, parameters, exc, dialect.loaded_dbapi.Error,
                                  connection_invalidated=lost, dialect=dialect) from exc
    finally:
        if not kept:
            cursor.close()


class _Compiled:
    """One statement compiled for one dialect, with its parameter order and column processors."""

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.compiled = compiled
        self.positional: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional \
            else None
        self.binds: list[tuple[str, Convert]] = list(_bind_processors(compiled).items())
        columns = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                   for c in statement.selected_columns]
        self.columns: list[tuple[int, Convert]] = [(i, p) for i, p in enumerate(columns) if p is not None]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """Return the DB-API parameters for these values: a tuple or a dict, as the driver takes them."""
        bound = self.compiled.construct_params(dict(values))
        assert bound is not None  # a compiled SELECT always has its parameter dict
        for name, process in self.binds:
            bound[name] = process(bound[name])
        return tuple(bound[name] for name in self.positional) if self.positional is not None else bound

    def run(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute on the connection's DB-API connection and return the processed rows."""
        rows = _on_cursor(connection, self.sql, self.parameters(values), fetch=True)
        if not self.columns:
            return [tuple(row) for row in rows]
        processed = []
        for row in rows:
            cells = list(row)
            for index, process in self.columns:
                cells[index] = process(cells[index])
            processed.append(tuple(cells))
        return processed


class PreparedRead:
    """A SELECT compiled once per dialect; `rows` runs it and returns its rows as plain tuples."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement with these parameter values on the connection; return its processed rows."""
        if _watched(connection):
            # Something watches every statement (an event listener, echo): the usual way, so it sees this one.
            return [tuple(row) for row in connection.execute(self.statement, values)]
        found = self._compiled.get(connection.dialect)
        if found is None:
            found = self._compiled[connection.dialect] = _Compiled(self.statement, connection.dialect)
        return found.run(connection, values)
