"""The outbox's read of an event's audience: role holders, named users, their preferences, the channels."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.notify import channels, outbox, prefs
from engine.notify.events import Event
from tests.conftest import T0, add_user
from tests.engine.test_statements_per_unit import statements


def audience_read_is_one_sql_text(session: Session) -> None:
    """Read three events' audiences, of one to three roles and names; check them and their one SQL text."""
    for name, role in (("tech_wang", "technician"), ("tech_li", "technician"),
                       ("disp_zhao", "engineering_dispatcher"), ("cs_chen", "cs_assistant")):
        add_user(session, name, role)
    prefs.save(session, "tech_li", {"email": "li@test.local"})
    hook = channels.add_webhook(session, "http://hooks.test/tech", roles=["technician"], now=T0)
    events = [Event("task_ready", None, T0, roles=("technician",)),
              Event("process", None, T0, users=("cs_chen", "boss"),
                    roles=("technician", "engineering_dispatcher"), exclude=("tech_wang",)),
              Event("instance_ended", None, T0, users=("cs_chen",))]
    with statements(session) as sql:
        found = [outbox.audience(session, ev) for ev in events]
    assert [users for users, _, _ in found] == [["tech_li", "tech_wang"],
                                                ["cs_chen", "boss", "tech_li", "disp_zhao"], ["cs_chen"]]
    assert [sorted(stored) for _, stored, _ in found] == [["tech_li"], ["tech_li"], []]
    assert found[0][1]["tech_li"].email == "li@test.local"
    assert all([c.id for c in active] == [hook.id] for _, _, active in found)
    # The lists are bound as one parameter each: nothing rendered per execution, one statement to cache.
    assert len(sql) == 3 and len(set(sql)) == 1


def test_the_audience_read_is_one_sql_text_whatever_the_number_of_roles_and_names(session: Session) -> None:
    audience_read_is_one_sql_text(session)
