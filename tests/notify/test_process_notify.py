"""pf:notify: a BPMN element telling roles or users something, in Chinese and English, when reached."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import InvalidBpmn
from engine.notify.models import Delivery, Notification
from engine.runtime import Actor, Engine
from tests.conftest import T0

from .conftest import Factory, dispatch_process, start_dispatch

NOTIFY = ('<pf:notify roles="engineering_dispatcher" users="tech_li" urgent="true">'
          '<pf:message lang="zh">收到重大投诉：{title}（{unit}）</pf:message>'
          '<pf:message lang="en">Major complaint received: {title}</pf:message></pf:notify>')


def test_a_notify_element_tells_its_roles_and_users_with_the_case_in_the_message(
        session_factory: Factory, engine: Engine, staff: dict[str, Actor]) -> None:
    with session_factory() as s:
        engine.deploy(s, dispatch_process("major", notify=NOTIFY))
        s.commit()
    start_dispatch(session_factory, engine, staff["cs_chen"], key="major")
    with session_factory() as s:
        note = s.scalars(select(Notification).where(Notification.event == "process")).one()
        told = sorted(s.scalars(select(Delivery.channel).where(Delivery.notification_id == note.id)))
    assert note.urgent and note.element_id == "start"
    assert note.title_zh == "收到重大投诉：major（）"  # a name the case lacks renders empty
    assert note.title_en == "Major complaint received: major"
    assert told == ["app:disp_zhao", "app:tech_li"]


@pytest.mark.parametrize(("notify", "problem"), [
    ('<pf:notify roles="wizard"><pf:message lang="zh">x</pf:message></pf:notify>', "unknown role 'wizard'"),
    ('<pf:notify><pf:message lang="zh">x</pf:message></pf:notify>', "roles="),
    ('<pf:notify roles="technician" urgent="maybe"><pf:message lang="zh">x</pf:message></pf:notify>',
     "urgent='maybe'"),
    ('<pf:notify roles="technician"><pf:message lang="fr">x</pf:message></pf:notify>', "lang='fr'"),
])
def test_a_bad_notify_element_is_refused_at_deploy_naming_the_element(
        session_factory: Factory, engine: Engine, staff: dict[str, Actor], notify: str, problem: str) -> None:
    with session_factory() as s, pytest.raises(InvalidBpmn) as refused:
        engine.deploy(s, dispatch_process("bad", notify=notify), now=T0)
    assert any(p.element_id == "start" and problem in p.message for p in refused.value.problems)
