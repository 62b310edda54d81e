"""PostgreSQL for tests: a private schema per test so parallel suites never share tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.store.db import create_schema, make_engine, make_session_factory
from tests.conftest import PG_URL, note_pg_use, skip_or_fail_in_ci

Factory = Callable[[], Session]


def pg_unreachable() -> str | None:
    """Return why the PostgreSQL server cannot be used, or None when it can."""
    note_pg_use()
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def skip_without_pg(why: str) -> None:
    """Skip loudly without PostgreSQL; fail instead under CI=true, where a skip would hide the gap."""
    skip_or_fail_in_ci(why)


def schema_bind(schema: str, **kwargs: Any) -> SqlEngine:
    """Return an engine whose connections see only the given schema."""
    return make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, **kwargs)


@contextmanager
def private_schema(untested: str, prefix: str = "bpm_t") -> Iterator[str]:
    """Create a schema with its tables, drop it afterwards; with no server, skip naming what went untested."""
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): {untested} was NOT tested")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    bind = schema_bind(schema)
    create_schema(bind)
    bind.dispose()
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A private schema for one test (PostgreSQL locking)."""
    with private_schema("PostgreSQL locking") as schema:
        yield schema


@contextmanager
def two_processes_on_pg(untested: str, prefix: str) -> Iterator[tuple[Factory, Factory]]:
    """Two engines (two processes' connection pools) on one private PostgreSQL schema."""
    with private_schema(untested, prefix=prefix) as schema:
        binds = [schema_bind(schema) for _ in range(2)]
        try:
            yield make_session_factory(binds[0]), make_session_factory(binds[1])
        finally:
            for bind in binds:
                bind.dispose()
