"""The outbox on PostgreSQL: the audience, their preferences and the channels in one statement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from engine.calendar import BusinessCalendar
from engine.notify import channels, prefs
from engine.notify.models import Delivery, Notification
from engine.runtime import Engine
from engine.store.db import make_session_factory
from tests.conftest import T0, add_user
from tests.engine.test_statements_per_unit import statements, verbs
from tests.pg import private_schema, schema_bind

from .conftest import dispatch_process, start_dispatch

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
    # The audience, preferences and channels are one read: no separate read of the channels.
    assert verbs(sql).count("SELECT notification_channels") == 0
