"""Sign-in lockout on PostgreSQL: parallel wrong guesses lock the account at exactly the limit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import sessionmaker

from engine.users import MAX_FAILED_LOGINS, authenticate, create_user, get_user
from tests.pg import pg_schema, schema_bind

__all__ = ["pg_schema"]

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _guess_in_parallel(schema: str, guesses: int) -> tuple[int, bool]:
    """Make `guesses` wrong sign-ins at once, each in its own transaction; return (count, locked)."""
    bind = schema_bind(schema, pool_size=guesses + 1)
    factory = sessionmaker(bind, expire_on_commit=False)
    try:
        with factory() as session:
            create_user(session, "li", "long-enough", ["cleaner"])
            session.commit()
        barrier = threading.Barrier(guesses)
        errors: list[BaseException] = []

        def guess() -> None:
            try:
                with factory() as session:
                    get_user(session, "li")  # read the row before the others write it
                    barrier.wait(timeout=30)
                    authenticate(session, "li", "wrong-password", NOW)
                    session.commit()
            except BaseException as exc:  # reported below, not swallowed
                errors.append(exc)

        threads = [threading.Thread(target=guess) for _ in range(guesses)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        with factory() as session:
            user = get_user(session, "li")
            assert user is not None
            return user.failed_logins, user.locked_until is not None
    finally:
        bind.dispose()


def test_parallel_wrong_guesses_lock_the_account_at_exactly_the_limit_on_postgres(pg_schema: str) -> None:
    assert _guess_in_parallel(pg_schema, MAX_FAILED_LOGINS) == (0, True)


def test_parallel_wrong_guesses_below_the_limit_are_all_counted_on_postgres(pg_schema: str) -> None:
    assert _guess_in_parallel(pg_schema, MAX_FAILED_LOGINS - 1) == (MAX_FAILED_LOGINS - 1, False)
