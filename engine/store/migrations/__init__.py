"""Schema migrations with Alembic: upgrade, stamp and inspect a database's revision.

Two branches share one version table: the engine's revisions (`versions/`, rooted at r0001) and the
installed domain's (its `Domain.migrations` folder, branching off r0001). A database is at "head"
when it is at the head of both; revisions are shown joined, e.g. `d0001+r0002`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy import Engine as SqlEngine

from engine import domain

from ..models import Base

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


class SchemaMismatch(Exception):
    """The database's tables differ from the models even at the newest revision."""

    def __init__(self, differences: list[Any]) -> None:
        self.differences = differences
        words = [describe(d) for d in differences]
        listed = "; ".join(words[:10]) + (f" (+{len(words) - 10} more)" if len(words) > 10 else "")
        super().__init__(f"the database schema differs from this version's models: {listed} "
                         "(a model changed without an Alembic revision, or the database was edited by hand)")


def describe(difference: Any) -> str:
    """Return one autogenerate difference in words, e.g. 'add_index ix_tasks_due on tasks'."""
    if isinstance(difference, list):
        return ", ".join(describe(d) for d in difference)
    op, *rest = difference
    if op.startswith("modify_"):
        return f"{op} {rest[1]}.{rest[2]}"
    thing = rest[-1] if op.endswith("_column") else rest[0]
    table = getattr(thing, "table", None)
    where = f" on {table.name}" if table is not None and hasattr(table, "name") else ""
    if op.endswith("_column"):
        where = f" on {rest[1]}"
    return f"{op} {getattr(thing, 'name', thing)}{where}"


def alembic_config(connection: Connection | None = None) -> Config:
    """Return an Alembic config for the packaged scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    locations = [HERE / "versions"]
    served = domain.current()  # its tables are in the models too, so its revisions must be known
    if served.migrations is not None:
        locations.append(served.migrations)
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    # env.py runs on this connection: the product's engine settings (SQLite pragmas) apply.
    cfg.attributes["connection"] = connection
    return cfg


def _joined(revisions: Iterable[str]) -> str:
    return "+".join(sorted(revisions))


def head_revision() -> str:
    """Return the newest revision of every branch, joined (engine and domain)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads, "no migration scripts are packaged"
    return _joined(heads)


def base_revision() -> str:
    """Return the first revision: the schema of the first release."""
    bases = ScriptDirectory.from_config(alembic_config()).get_bases()
    assert len(bases) == 1, f"expected one base revision, found {bases}"
    return bases[0]


def current_revision(bind: SqlEngine) -> str | None:
    """Return the database's revision of every branch, joined; None when Alembic never touched it."""
    with bind.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return _joined(heads) if heads else None


def schema_diff(connection: Connection) -> list[Any]:
    """Return what differs between the database and the models (empty: they match)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@contextmanager
def _connection(bind: SqlEngine) -> Iterator[Connection]:
    """Yield a connection in one transaction; on SQLite with foreign-key actions off meanwhile.

    Alembic's batch mode rebuilds a SQLite table by copy-and-drop, and dropping a parent table with
    foreign keys on would run its ON DELETE CASCADE on every task and history row. The pragma only
    takes effect outside a transaction, hence the driver-level call before BEGIN; afterwards the
    foreign keys are checked and switched on again.
    """
    with bind.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                yield conn
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                conn.rollback()
                if broken:
                    raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(bind: SqlEngine, revision: str = "heads") -> None:
    """Upgrade the database to a revision (default: the newest of every branch)."""
    with _connection(bind) as conn:
        command.upgrade(alembic_config(conn), revision)


def stamp(bind: SqlEngine, revision: str) -> None:
    """Record a revision without running anything (a schema made by create_all)."""
    with _connection(bind) as conn:
        command.stamp(alembic_config(conn), revision)


def init_database(bind: SqlEngine) -> str:
    """Bring any database to the newest schema; return what was done, in words.

    A fresh database is created by the migrations. Tables made by `create_all` (tests, tools)
    carry no revision: they are stamped at head when they match the models exactly. Raises
    SchemaMismatch when the tables differ from the models (a hand-edited or foreign database):
    nothing is guessed about a schema no migration made.
    """
    tables = set(inspect(bind).get_table_names())
    before = current_revision(bind)
    head = head_revision()
    if before is None and tables - {VERSION_TABLE}:
        with _connection(bind) as conn:
            differences = schema_diff(conn)
        if differences:
            raise SchemaMismatch(differences)
        stamp(bind, "heads")
        return f"existing tables match the models: stamped at {head}"
    if before == head:
        done = f"already at {head}"
    else:
        upgrade(bind)
        done = f"created at {head}" if before is None else f"upgraded from {before} to {head}"
    with _connection(bind) as conn:
        differences = schema_diff(conn)
    if differences:
        raise SchemaMismatch(differences)
    return done
