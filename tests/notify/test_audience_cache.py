"""Audiences kept per database connection: no read while the audience token holds, never a stale one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.notify import channels, outbox, prefs
from engine.notify.events import Event
from engine.notify.models import AudienceVersion, Channel, Delivery, Notification, Preference
from engine.store import migrations
from engine.store.db import create_schema, make_engine, make_session_factory
from engine.store.models import User, UserRole
from tests.conftest import T0, add_user
from tests.engine.test_statements_per_unit import statements
from tests.pg import private_schema, schema_bind, two_processes_on_pg
from tests.reliability.test_migrations import empty_bind  # noqa: F401 (a fixture: SQLite and PostgreSQL)

Factory = Callable[[], Session]


def notify_technicians(factory: Factory) -> tuple[list[str], list[str]]:
    """Tell the technicians something in a unit of its own; return its deliveries' channels and the SQL."""
    with factory() as s, statements(s) as sql:
        outbox.record(s, [Event("task_ready", None, T0, roles=("technician",))])
        s.commit()
    with factory() as s:
        newest = s.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1))
        sent = list(s.scalars(select(Delivery.channel).where(Delivery.notification_id == newest)
                              .order_by(Delivery.id)))
    return sent, sql


def note_ids(factory: Factory) -> list[int]:
    """Return every notification id, in order."""
    with factory() as s:
        return list(s.scalars(select(Notification.id).order_by(Notification.id)))


# What another process changes, and the deliveries of the next notification to the technicians after it.
CHANGES: dict[str, tuple[Callable[[Session], object], list[str]]] = {
    "a new holder of the role": (lambda s: add_user(s, "tech_zhou", "technician"),
                                 ["app:tech_li", "app:tech_wang", "app:tech_zhou"]),
    "the role taken away": (lambda s: s.execute(delete(UserRole).where(
        UserRole.role == "technician", UserRole.user_id == _id(s, "tech_li"))), ["app:tech_wang"]),
    "a holder switched off": (lambda s: s.execute(update(User).where(User.username == "tech_wang")
                                                  .values(active=False)), ["app:tech_li"]),
    "a preference muting the event": (lambda s: prefs.save(s, "tech_li", {"muted": {"app": ["task_ready"]}}),
                                      ["app:tech_wang"]),
    "a webhook for the role": (lambda s: channels.add_webhook(s, "http://hooks.test/t", roles=["technician"],
                                                              now=T0),
                               ["app:tech_li", "app:tech_wang", "webhook:1"]),
}


def _id(session: Session, username: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


def change_seen_by_the_next_notification(this: Factory, other: Factory, change: str) -> None:
    """Keep the technicians' audience in one process, change it in another; check the next notification."""
    with this() as s:
        for name in ("tech_wang", "tech_li"):
            add_user(s, name, "technician")
        s.commit()
    assert notify_technicians(this)[0] == ["app:tech_li", "app:tech_wang"]
    kept, sql = notify_technicians(this)
    assert kept == ["app:tech_li", "app:tech_wang"]
    assert not [s for s in sql if "FROM users" in s]  # the kept audience: no read at all
    act, expected = CHANGES[change]
    with other() as s:
        act(s)
        s.commit()
    assert notify_technicians(this)[0] == expected
    ids = note_ids(this)
    # A stale audience writes nothing (SQLite takes its insert back): no id is skipped.
    assert ids == list(range(ids[0], ids[0] + 3))


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_made_by_another_process_reaches_the_next_notification(
        two_processes: tuple[Factory, Factory], change: str) -> None:
    change_seen_by_the_next_notification(*two_processes, change)


@pytest.mark.postgres
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_made_by_another_process_reaches_the_next_notification_on_postgresql(change: str) -> None:
    with two_processes_on_pg("the audience token on PostgreSQL", "bpm_a") as processes:
        change_seen_by_the_next_notification(*processes, change)


def test_an_audience_read_in_a_rolled_back_transaction_is_never_taken_for_a_later_one(
        two_processes: tuple[Factory, Factory]) -> None:
    this, other = two_processes
    with this() as s:
        add_user(s, "tech_wang", "technician")
        s.commit()
    with this() as s:
        add_user(s, "tech_li", "technician")  # uncommitted: the audience read below sees it
        outbox.record(s, [Event("task_ready", None, T0, roles=("technician",))])
        s.rollback()
    with other() as s:  # a change as big, committed: a counter would show the rolled-back version again
        add_user(s, "cs_chen", "cs_assistant")
        s.commit()
    assert notify_technicians(this)[0] == ["app:tech_wang"]


def token(bind: SqlEngine) -> str:
    """Return the audience token."""
    with make_session_factory(bind)() as s:
        found = s.scalar(select(AudienceVersion.token))
    assert found is not None
    return found


# Each change to what an audience is read from, by table; a sign-in's bookkeeping is not one.
WATCHED: list[Callable[[Session], object]] = [
    lambda s: add_user(s, "tech_li", "technician"),
    lambda s: s.execute(update(User).where(User.username == "tech_li").values(active=False)),
    lambda s: s.execute(update(UserRole).where(UserRole.role == "technician").values(role="area_foreman")),
    lambda s: s.execute(delete(UserRole)),
    lambda s: prefs.save(s, "tech_li", {"email": "li@test.local"}),
    lambda s: s.execute(update(Preference).values(email="")),
    lambda s: s.execute(delete(Preference)),
    lambda s: channels.add_webhook(s, "http://hooks.test/t", now=T0),
    lambda s: s.execute(update(Channel).values(active=False)),
    lambda s: s.execute(delete(Channel)),
    lambda s: s.execute(delete(User)),
]


def every_change_changes_the_token(bind: SqlEngine) -> None:
    """Apply each watched change in turn: each one gives a new token; a failed sign-in gives none."""
    factory = make_session_factory(bind)
    seen = [token(bind)]
    for change in WATCHED:
        with factory() as s:
            change(s)
            s.commit()
        seen.append(token(bind))
        if change is WATCHED[0]:
            with factory() as s:
                s.execute(update(User).values(failed_logins=User.failed_logins + 1, password_hash="x"))
                s.commit()
            assert token(bind) == seen[-1]
    assert len(set(seen)) == len(seen), seen


def test_every_change_to_an_audience_changes_the_token_after_the_migrations(
        empty_bind: SqlEngine) -> None:  # noqa: F811 (the fixture imported above)
    migrations.upgrade(empty_bind)
    every_change_changes_the_token(empty_bind)


def test_every_change_to_an_audience_changes_the_token_in_a_schema_made_by_create_schema(
        tmp_path: Path) -> None:
    bind = make_engine(f"sqlite:///{tmp_path}/t.sqlite")
    create_schema(bind)
    every_change_changes_the_token(bind)
    bind.dispose()


@pytest.mark.postgres
def test_every_change_to_an_audience_changes_the_token_in_a_schema_made_by_create_schema_on_postgresql(
        ) -> None:
    with private_schema("the audience token's triggers on PostgreSQL", prefix="bpm_a") as schema:
        bind = schema_bind(schema)
        try:
            every_change_changes_the_token(bind)
        finally:
            bind.dispose()
