"""Fixtures shared by engine and web tests: a database, an engine with a fixed clock, users."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from department.domain import register
from engine.calendar import BusinessCalendar
from engine.runtime import Actor, Engine
from engine.store.db import create_schema, make_engine, make_session_factory
from engine.store.models import User, UserRole

# The tests' entry point, like create_app: before any test module or nested conftest is imported,
# since some read the department's demo accounts at import. A test may swap it (engine.domain.installed).
register()

# Monday 2026-11-23 10:00 Asia/Shanghai: inside working hours, no holiday nearby.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PG_URL = os.environ.get("BPM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_PG_USERS: set[str] = set()  # node ids of tests that reached for PostgreSQL (see note_pg_use)


def skip_or_fail_in_ci(why: str) -> None:
    """Skip loudly when a prerequisite is missing; fail instead under CI=true, where a skip hides a gap."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {why}", pytrace=False)
    pytest.skip(why)


def note_pg_use() -> None:
    """Remember that the running test uses PostgreSQL, so it must carry the `postgres` marker."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    if current:
        _PG_USERS.add(current.rsplit(" (", 1)[0])


@event.listens_for(Pool, "connect")
def _note_pg_connection(dbapi_connection: Any, _record: Any) -> None:
    """Catch PostgreSQL use through SQLAlchemy too, not only through tests.pg's reachability check."""
    if type(dbapi_connection).__module__.startswith("psycopg"):
        note_pg_use()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a test that used PostgreSQL without the `postgres` marker (`-m "not postgres"` must hold)."""
    outcome = yield
    if call.when != "teardown" or item.nodeid not in _PG_USERS:
        return
    _PG_USERS.discard(item.nodeid)
    if item.get_closest_marker("postgres") is None:
        report = outcome.get_result()  # type: ignore[attr-defined]
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} uses PostgreSQL but lacks @pytest.mark.postgres"


@pytest.fixture
def db_url(tmp_path: object) -> str:
    """Return a fresh SQLite database URL."""
    return f"sqlite:///{tmp_path}/test.sqlite"


@pytest.fixture
def session_factory(db_url: str) -> Iterator[Callable[[], Session]]:
    """Create the schema and yield a session factory."""
    bind = make_engine(db_url)
    create_schema(bind)
    yield make_session_factory(bind)
    bind.dispose()


@pytest.fixture
def session(session_factory: Callable[[], Session]) -> Iterator[Session]:
    """Yield one session; tests commit explicitly like callers do."""
    with session_factory() as s:
        yield s


@pytest.fixture
def two_processes(tmp_path: object) -> Iterator[tuple[Callable[[], Session], Callable[[], Session]]]:
    """Two engines (two processes' connection pools) on one SQLite file."""
    binds = [make_engine(f"sqlite:///{tmp_path}/shared.sqlite") for _ in range(2)]
    create_schema(binds[0])
    yield make_session_factory(binds[0]), make_session_factory(binds[1])
    for bind in binds:
        bind.dispose()


@pytest.fixture
def engine() -> Engine:
    """Return an engine on the default business calendar without country holidays."""
    return Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)


def add_user(session: Session, username: str, *roles: str) -> Actor:
    """Create a user with roles and return it as an actor."""
    user = User(username=username, display_name=username, password_hash="!", created_at=T0)
    user.roles = [UserRole(role=r) for r in roles]
    session.add(user)
    session.flush()
    return Actor(username, frozenset(roles))


@pytest.fixture
def people(session: Session) -> dict[str, Actor]:
    """Create one user per role plus a few second users, committed."""
    from department.roles import ROLES

    actors = {role: add_user(session, role, role) for role in ROLES}
    for extra, role in (("cs_assistant2", "cs_assistant"), ("security_guard2", "security_guard"),
                        ("technician2", "technician"), ("cs_foreman2", "cs_foreman")):
        actors[extra] = add_user(session, extra, role)
    session.commit()
    return actors
