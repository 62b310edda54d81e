"""Database connection set-up: engines, sessions and SQLite pragmas."""

from __future__ import annotations

import json
import os
import select
from json import encoder
from pathlib import Path
from typing import Any

from psycopg import pq
from sqlalchemy import Connection, Engine, PoolProxiedConnection, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from engine.store.models import Base

DATABASE_URL_ENV = "BPM_DATABASE_URL"


def default_database_url(instance_dir: str | os.PathLike[str] = "instance") -> str:
    """Return BPM_DATABASE_URL or a SQLite file in the instance folder."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        return url
    path = Path(instance_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'bpm.sqlite'}"


def is_sqlite(bind: Engine | Connection) -> bool:
    """Tell whether the engine talks to SQLite."""
    return bind.dialect.name == "sqlite"


def is_postgresql(bind: Engine | Connection) -> bool:
    """Tell whether the engine talks to PostgreSQL."""
    return bind.dialect.name == "postgresql"


def json_text(value: Any) -> str:
    """Return the text a JSON column stores: compact, non-ASCII as UTF-8, json.dumps's errors otherwise."""
    # Chinese case data written as \u escapes took six bytes a character and hid the text from anyone
    # reading the database; compact separators drop two spaces a key. Every unit binds several JSON
    # values, so the C encoder json.dumps would build is called directly (a fresh circular-reference
    # record each call, hence the same errors as json.dumps).
    if _C_ENCODER is None:  # no C accelerator in this Python: the plain function
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "".join(_C_ENCODER({}, _DEFAULTS.default, encoder.encode_basestring, None, ":", ",",
                              False, False, True)(value, 0))


_C_ENCODER = getattr(encoder, "c_make_encoder", None)  # what json.dumps runs (typeshed does not name it)
_DEFAULTS = json.JSONEncoder()  # json.dumps's other settings: NaN allowed, keys unsorted, no indent


def engine_options(url: str, **kwargs: Any) -> dict[str, Any]:
    """Return create_engine() keyword arguments with this product's settings for the URL's database."""
    options = dict(kwargs)
    options.setdefault("json_serializer", json_text)
    if url.startswith("sqlite"):
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("timeout", 30)
        # The embedded timer worker and threaded servers hand connections between threads.
        connect_args.setdefault("check_same_thread", False)
        options["connect_args"] = connect_args
    else:
        options.setdefault("pool_pre_ping", True)
    return options


def configure_engine(bind: Engine) -> None:
    """Apply the per-connection settings (SQLite: WAL, pragmas, BEGIN IMMEDIATE; PostgreSQL: the ping)."""
    if is_sqlite(bind):
        _configure_sqlite(bind)
    elif is_postgresql(bind):
        ping = bind.dialect.do_ping
        bind.dialect.do_ping = lambda dbapi_connection: _quiet(dbapi_connection) or ping(dbapi_connection)  # type: ignore[method-assign]


def _quiet(dbapi_conn: Any) -> bool:
    """Tell whether an idle psycopg connection is certainly alive: open, and nothing came from the server."""
    # The pool's pre-ping was a round trip per checkout (one per unit of work). A server that ends a
    # connection (restart, pg_terminate_backend, idle timeout) sends its FATAL error and closes the
    # socket, so the socket turns readable; an idle connection otherwise receives nothing (the pool's
    # connections never LISTEN). Readable, or not idle: the dialect's own ping decides, as before.
    pgconn = getattr(dbapi_conn, "pgconn", None)
    if pgconn is None or pgconn.status != pq.ConnStatus.OK \
            or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
    except (AttributeError, OSError, ValueError):  # no poll() on this platform, or no socket any more
        return False


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create a SQLAlchemy engine with the settings this product relies on."""
    bind = create_engine(url, **engine_options(url, **kwargs))
    configure_engine(bind)
    return bind


def _create_private_file(bind: Engine) -> None:
    """Create a missing SQLite file readable by its owner only (it holds staff and customer data)."""
    path = bind.url.database
    if not path or path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        # SQLite gives its -wal and -shm files the main file's mode, so they stay private too.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        return  # a missing folder or no right to write: SQLite's own error on connect says so


def _configure_sqlite(bind: Engine) -> None:
    """Use WAL and take the write lock at BEGIN so two writers queue instead of deadlocking."""
    _create_private_file(bind)

    @event.listens_for(bind, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we emit it ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if bind.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    # The dialect's own begin (pysqlite's is a no-op), not a "begin" event listener: an engine with any
    # listener runs SQLAlchemy's event dispatch around every statement and commit it sends.
    bind.dialect.do_begin = _begin_immediate  # type: ignore[method-assign,assignment]


def _begin_immediate(dbapi_conn: PoolProxiedConnection) -> None:
    """Begin a transaction holding the write lock: two units of work queue instead of deadlocking."""
    # IMMEDIATE: one unit of work at a time holds the write lock, the SQLite stand-in for a row lock.
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


def make_session_factory(bind: Engine) -> sessionmaker[Session]:
    """Return a session factory whose sessions keep objects usable after commit."""
    return sessionmaker(bind=bind, expire_on_commit=False)


def create_schema(bind: Engine) -> None:
    """Create all tables (fresh databases and tests; upgrades go through Alembic)."""
    Base.metadata.create_all(bind)
