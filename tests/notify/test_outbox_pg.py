"""The outbox on PostgreSQL: one read of audience and channels, one write per notification."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.notify import channels, prefs
from engine.notify.models import Delivery, Notification
from engine.runtime import Engine
from engine.store.db import create_schema, make_engine, make_session_factory
from engine.store.unit_of_work import run_unit
from tests.conftest import T0, add_user
from tests.engine.test_statements_per_unit import statements, verbs
from tests.pg import private_schema, schema_bind

from .conftest import dispatch_process, start_dispatch
from .test_audience import audience_read_is_one_sql_text

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    """A private schema with the tables; dropped afterwards."""
    with private_schema("the outbox's one read of audience and channels", prefix="bpm_o") as name:
        yield name


def test_a_units_notification_reaches_its_role_webhook_and_people_from_one_read_on_postgresql(
        schema: str) -> None:
    bind = schema_bind(schema)
    assert bind.dialect.name == "postgresql"
    factory = make_session_factory(bind)
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    with factory() as s:
        chen = add_user(s, "cs_chen", "cs_assistant")
        for name in ("tech_wang", "tech_li"):
            add_user(s, name, "technician")
        prefs.save(s, "tech_li", {"muted": {"app": ["task_ready"]}})
        for_technicians = channels.add_webhook(s, "http://hooks.test/tech", roles=["technician"], now=T0).id
        channels.add_webhook(s, "http://hooks.test/other", users=["cs_chen"], now=T0)
        engine.deploy(s, dispatch_process())
        s.commit()
    with factory() as probe, statements(probe) as sql:
        iid = start_dispatch(factory, engine, chen)
    with factory() as s:
        sent = sorted(s.scalars(select(Delivery.channel).join(Notification)
                                .where(Notification.instance_id == iid)))
    # Holders of the role (tech_li muted the event in the app) and the one webhook for that role.
    assert sent == ["app:tech_wang", f"webhook:{for_technicians}"]
    bind.dispose()  # its pooled connections closed here, not whenever the garbage collector finds them
    # The audience, preferences and channels are one read: no separate read of the channels.
    assert verbs(sql).count("SELECT notification_channels") == 0


def test_the_audience_read_is_one_sql_text_whatever_the_number_of_roles_and_names_on_postgresql(
        schema: str) -> None:
    bind = schema_bind(schema)
    with make_session_factory(bind)() as s:
        audience_read_is_one_sql_text(s)
    bind.dispose()


def _tell_everyone(factory: Callable[[], Session]) -> tuple[list[dict[str, Any]], list[str]]:
    """Start a dispatch case and let its deadline pass; return every delivery row and the writes' SQL."""
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    with factory() as s:
        chen = add_user(s, "cs_chen", "cs_assistant")
        for name in ("tech_wang", "tech_li"):
            add_user(s, name, "technician")
        add_user(s, "disp_zhao", "engineering_dispatcher")
        # T0 is 10:00 in Shanghai: tech_wang's e-mail is quiet from 09:00 to 18:00.
        prefs.save(s, "tech_wang", {"email": "wang@test.local", "quiet_start": "09:00", "quiet_end": "18:00"})
        prefs.save(s, "disp_zhao", {"email": "zhao@test.local"})
        channels.add_webhook(s, "http://hooks.test/tech", roles=["technician"], now=T0)
        engine.deploy(s, dispatch_process())
        s.commit()
    with factory() as probe, statements(probe) as sql:
        iid = start_dispatch(factory, engine, chen)
        with factory() as s:  # the deadline passes: an urgent escalation to the dispatcher
            run_unit(s, lambda: engine.fire_timers(s, iid, T0 + timedelta(minutes=16)))
    with factory() as s:
        columns = [c for c in Delivery.__table__.c if c.key != "id"]
        rows = s.execute(select(Notification.event, *columns)
                         .join(Notification, Notification.id == Delivery.notification_id)
                         .order_by(Notification.id, Delivery.channel)).all()
    return [row._asdict() for row in rows], sql


def test_a_notification_and_its_deliveries_are_one_statement_on_postgresql_with_the_rows_sqlite_writes(
        schema: str, tmp_path: Path) -> None:
    pg_bind = schema_bind(schema)
    pg, pg_sql = _tell_everyone(make_session_factory(pg_bind))
    pg_bind.dispose()
    sqlite_bind = make_engine(f"sqlite:///{tmp_path}/outbox.sqlite")
    create_schema(sqlite_bind)
    lite, lite_sql = _tell_everyone(make_session_factory(sqlite_bind))
    sqlite_bind.dispose()
    assert pg == lite  # in-app, e-mail and webhook rows alike, ids and idempotency keys included
    by_channel = {(row["event"], row["channel"]): row for row in pg}
    assert all(row["idempotency_key"] == f"{row['notification_id']}:{row['channel']}" for row in pg)
    app = by_channel["task_ready", "app:tech_li"]
    assert (app["status"], app["sent_at"], app["next_attempt_at"]) == ("sent", T0, None)
    held = by_channel["task_ready", "email:tech_wang"]  # quiet hours: held until 18:00 Shanghai
    assert (held["status"], held["address"], held["next_attempt_at"]) == ("pending", "wang@test.local",
                                                                          T0 + timedelta(hours=8))
    hook = by_channel["task_ready", "webhook:1"]
    assert (hook["status"], hook["address"], hook["next_attempt_at"]) == ("pending", "http://hooks.test/tech",
                                                                          T0)
    urgent = by_channel["escalation", "email:tech_wang"]  # urgent: at once, quiet hours or not
    assert (urgent["status"], urgent["next_attempt_at"]) == ("pending", T0 + timedelta(minutes=16))
    assert by_channel["task_ready", "email:disp_zhao"]["next_attempt_at"] == T0 + timedelta(minutes=16)
    assert all((row["attempts"], row["last_error"], row["read_at"]) == (0, "", None) for row in pg)
    # PostgreSQL: each notification is one statement, deliveries included; SQLite inserts them apart.
    assert verbs(pg_sql).count("INSERT notification_deliveries") == 0
    assert len({row["notification_id"] for row in pg}) == 3
    assert len([s for s in pg_sql if s.startswith("WITH note AS (INSERT INTO notifications")]) == 3
    assert verbs(lite_sql).count("INSERT notification_deliveries") == 2  # one per unit, at its commit
