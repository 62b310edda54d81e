"""Statements compiled once per dialect, sent with their parameters already in the driver's form.

Even a cached Core statement pays SQLAlchemy's per-execution work: the compiled-cache key and lookup,
a parameter dictionary built per row (construct_params), each bind processor applied through its
generic loop. For the unit's few hot writes that was most of their Python time (about 50 µs a
statement within a unit, against 15–30 µs at the driver). Here a statement is compiled once for the
connection's dialect; the bind processors of that compilation (SQLAlchemy's own, so the driver receives
the same values) are applied in one pass, and the SQL text goes out with `Connection.exec_driver_sql`:
still SQLAlchemy's connection, transaction, cursor events and error wrapping, minus the compile step.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement's SQL text for a dialect and how to turn a row of values into its parameters."""

    __slots__ = ("_plan", "_positional", "returning", "sql")

    def __init__(self, sql: str, plan: tuple[tuple[str, Processor], ...], positional: bool,
                 returning: bool) -> None:
        self.sql = sql
        self._plan = plan  # (bind name, its processor or None), in the SQL's order
        self._positional = positional
        self.returning = returning  # it hands back the new row's key (else: the cursor's lastrowid)

    def params(self, values: Mapping[str, Any]) -> Any:
        """Return one row's parameters in the driver's form (a tuple, or a dict for named styles)."""
        if self._positional:
            return tuple([values[k] if f is None else f(values[k]) for k, f in self._plan])
        return {k: values[k] if f is None else f(values[k]) for k, f in self._plan}

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        """Execute for one row, or executemany for several."""
        if len(rows) == 1:
            return connection.exec_driver_sql(self.sql, self.params(rows[0]))
        return connection.exec_driver_sql(self.sql, [self.params(r) for r in rows])


def compile_prepared(statement: ClauseElement, dialect: Dialect,
                     column_keys: Sequence[str] | None = None) -> Prepared | None:
    """Compile a statement for the dialect; None when it needs SQLAlchemy at execution time."""
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(column_keys or ()) or None)
    if (compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params
            or compiled.post_compile_params or compiled.escaped_bind_names or compiled.schema_translate_map):
        # Python-side defaults, expanding lists, renamed binds: SQLAlchemy's execution step does work here.
        return None
    processors = compiled._bind_processors  # noqa: SLF001 (what SQLAlchemy applies to each parameter)
    names = compiled.positiontup if compiled.positional else list(compiled.bind_names.values())
    plan = tuple((name, processors.get(name)) for name in names)
    return Prepared(compiled.string, plan, compiled.positional, bool(compiled.effective_returning))


_cache: WeakKeyDictionary[Dialect, dict[Hashable, Prepared | None]] = WeakKeyDictionary()
_last: tuple[Dialect | None, dict[Hashable, Prepared | None]] = (None, {})  # a process mostly has one


def prepared(dialect: Dialect, key: Hashable, build: Callable[[], tuple[ClauseElement, Sequence[str] | None]]
             ) -> Prepared | None:
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


def run(connection: Connection, target: Prepared | Any, rows: Sequence[Mapping[str, Any]]) -> Any:
    """Execute a prepared statement, or a Core one, for these rows (executemany for several)."""
    if isinstance(target, Prepared):
        return target.execute(connection, rows)
    return connection.execute(target, rows)
