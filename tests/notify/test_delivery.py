"""Notifications are written with the change that causes them and delivered by the worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.notify import channels, delivery, prefs
from engine.notify.models import Delivery, DeliveryAttempt, Notification
from engine.runtime import Actor, Engine
from engine.store.models import TaskRow
from engine.store.unit_of_work import run_unit
from tests.conftest import T0

from .conftest import Factory, RunningWorker, fast_policy, start_dispatch
from .receivers import http_receiver, smtp_receiver, subjects

GENERIC_KEYS = {"event", "task_id", "instance_id", "element_id", "title", "role", "assignee", "due_at", "url"}


def add_hook(factory: Factory, url: str, **kw: object) -> int:
    with factory() as s:
        hook = channels.add_webhook(s, url, now=T0, **kw)  # type: ignore[arg-type]
        s.commit()
        return hook.id


def test_a_dispatched_repair_reaches_the_technicians_webhook_with_the_worker_running(
        session_factory: Factory, deployed: Engine, staff: dict[str, Actor],
        running_worker: Callable[..., RunningWorker]) -> None:
    with http_receiver() as (url, inbox):
        add_hook(session_factory, url, roles=["technician"])
        running_worker(fast_policy())
        iid = start_dispatch(session_factory, deployed, staff["cs_chen"])
        # Waits for the worker's normal wake-up after the commit; no clock is read.
        hits = inbox.wait_for(lambda items: len(items) >= 1)
    body = hits[0].body
    assert set(body) >= GENERIC_KEYS
    assert (body["event"], body["instance_id"], body["element_id"], body["role"]) == \
        ("task_ready", iid, "arrive", "technician")
    assert body["url"] == f"http://pf.test/tasks/{body['task_id']}"
    assert body["due_at"] is not None
    assert hits[0].key.endswith(f":webhook:{1}")


def test_a_receiver_answering_500_three_times_then_200_gets_the_message_exactly_once(
        session_factory: Factory, deployed: Engine, staff: dict[str, Actor],
        running_worker: Callable[..., RunningWorker]) -> None:
    with http_receiver([500, 500, 500]) as (url, inbox):
        add_hook(session_factory, url, users=["tech_wang"])
        with session_factory() as s:
            inst = deployed.start(s, "dispatch", {}, staff["cs_chen"], now=T0)
            s.commit()
            task_id = s.scalar(select(TaskRow.id).where(TaskRow.instance_id == inst.id))
        boss = staff["boss"]
        with session_factory() as s:
            run_unit(s, lambda: deployed.reassign(s, str(task_id), "tech_wang", boss, now=T0))
        worker = running_worker(fast_policy())
        hits = inbox.wait_for(lambda items: any(h.status == 200 for h in items))
        worker.stop()  # its pass records the 200 after the receiver answered: read once it has committed
        with session_factory() as s:
            sent = s.scalars(select(Delivery).where(Delivery.channel.like("webhook:%"))).all()
            attempts = s.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all()
    assert [h.status for h in hits] == [500, 500, 500, 200]
    assert {h.key for h in hits} == {sent[0].idempotency_key}
    assert [h.body["event"] for h in hits] == ["task_reassigned"] * 4
    assert len(sent) == 1 and sent[0].status == "sent" and sent[0].attempts == 4
    assert [a.ok for a in attempts] == [False, False, False, True]
    assert "HTTP 500" in attempts[0].detail


def test_a_rolled_back_unit_leaves_no_notification(session_factory: Factory, deployed: Engine,
                                                  staff: dict[str, Actor]) -> None:
    with session_factory() as s:
        def start_then_fail() -> None:
            deployed.start(s, "dispatch", {}, staff["cs_chen"], now=T0)
            raise RuntimeError("the request failed after the change")
        with pytest.raises(RuntimeError):
            run_unit(s, start_then_fail)
        start_dispatch(session_factory, deployed, staff["cs_chen"])
    with session_factory() as s:
        notes = s.scalars(select(Notification)).all()
    assert [n.event for n in notes] == ["task_ready"]  # only the committed case's


def test_a_task_for_a_role_lands_in_each_holders_in_app_list(session_factory: Factory, deployed: Engine,
                                                            staff: dict[str, Actor]) -> None:
    start_dispatch(session_factory, deployed, staff["cs_chen"])
    with session_factory() as s:
        channels_ = sorted(s.scalars(select(Delivery.channel)).all())
    assert channels_ == ["app:tech_li", "app:tech_wang"]


def test_email_goes_over_smtp_with_the_idempotency_key_in_the_message_id(
        session_factory: Factory, deployed: Engine, staff: dict[str, Actor]) -> None:
    with session_factory() as s:
        prefs.save(s, "tech_wang", {"email": "wang@test.local"})
        s.commit()
    start_dispatch(session_factory, deployed, staff["cs_chen"])
    with smtp_receiver() as (url, inbox):
        assert delivery.deliver_due(session_factory, fast_policy(smtp_url=url)) == 1
        mails = inbox.wait_for(lambda items: len(items) == 1)
    assert mails[0]["To"] == "wang@test.local"
    assert subjects(mails)[0].startswith("待领取任务")
    assert "pf.test/tasks/" in mails[0].get_payload(decode=True).decode("utf-8")
    with session_factory() as s:
        mail = s.scalars(select(Delivery).where(Delivery.channel == "email:tech_wang")).one()
    assert mail.status == "sent" and mail.idempotency_key.replace(":", ".") in mails[0]["Message-ID"]


def test_quiet_hours_hold_email_until_morning_but_not_an_escalation(
        session_factory: Factory, deployed: Engine, staff: dict[str, Actor]) -> None:
    with session_factory() as s:
        # T0 is 10:00 in Shanghai: quiet from 09:00 to 18:00 for this test.
        prefs.save(s, "tech_wang", {"email": "wang@test.local", "quiet_start": "09:00", "quiet_end": "18:00"})
        s.commit()
    iid = start_dispatch(session_factory, deployed, staff["cs_chen"])
    with session_factory() as s:
        run_unit(s, lambda: deployed.fire_timers(s, iid, T0 + timedelta(minutes=16)))
    with session_factory() as s:
        held = dict(s.execute(select(Notification.event, Delivery.next_attempt_at).join(
            Notification, Notification.id == Delivery.notification_id)
            .where(Delivery.channel == "email:tech_wang")).all())
    assert held["task_ready"] == T0 + timedelta(hours=8)  # 18:00 Shanghai
    assert held["escalation"] == T0 + timedelta(minutes=16)  # urgent: at once


def test_muted_events_are_not_sent_on_that_channel(session_factory: Factory, deployed: Engine,
                                                  staff: dict[str, Actor]) -> None:
    with session_factory() as s:
        prefs.save(s, "tech_wang", {"muted": {"app": ["task_ready"], "email": []}})
        s.commit()
    start_dispatch(session_factory, deployed, staff["cs_chen"])
    with session_factory() as s:
        assert s.scalars(select(Delivery.channel)).all() == ["app:tech_li"]


def test_bad_preferences_and_webhooks_are_refused_naming_the_field(session_factory: Factory,
                                                                  staff: dict[str, Actor]) -> None:
    from engine.errors import InvalidData

    with session_factory() as s:
        with pytest.raises(InvalidData) as bad_pref:
            prefs.save(s, "tech_wang", {"email": "no at sign", "quiet_start": "25:00",
                                        "muted": {"app": ["nonsense"]}})
        with pytest.raises(InvalidData) as bad_hook:
            channels.add_webhook(s, "ftp://x", fmt="telegram", roles=["wizard"], users=["nobody"], now=T0)
    assert set(bad_pref.value.fields) == {"email", "quiet_start", "muted.app"}
    assert set(bad_hook.value.fields) == {"url", "format", "role", "user"}


def test_wecom_and_dingtalk_get_markdown_with_the_task_link(
        session_factory: Factory, deployed: Engine, staff: dict[str, Actor]) -> None:
    with http_receiver() as (url, inbox):
        add_hook(session_factory, url, fmt="wecom")
        add_hook(session_factory, url, fmt="dingtalk")
        start_dispatch(session_factory, deployed, staff["cs_chen"])
        delivery.deliver_due(session_factory, fast_policy())
        hits = inbox.wait_for(lambda items: len(items) == 2)
    by_type = {("title" in h.body["markdown"]): h.body for h in hits}
    assert by_type[False]["msgtype"] == "markdown" and "](http://pf.test/tasks/" in \
        by_type[False]["markdown"]["content"]
    assert "](http://pf.test/tasks/" in by_type[True]["markdown"]["text"]


def test_a_test_message_goes_to_the_one_channel(session_factory: Factory, staff: dict[str, Actor]) -> None:
    with http_receiver() as (url, inbox):
        hook = add_hook(session_factory, url, roles=["technician"])
        with session_factory() as s:
            channels.send_test(s, hook, actor="boss", now=T0)
            s.commit()
        delivery.deliver_due(session_factory, fast_policy())
        hits = inbox.wait_for(lambda items: len(items) == 1)
    assert hits[0].body["title"] == "测试通知"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 1


def test_a_deadline_drawing_near_is_told_once_to_the_role(session_factory: Factory, deployed: Engine,
                                                         staff: dict[str, Actor]) -> None:
    start_dispatch(session_factory, deployed, staff["cs_chen"])  # due at T0 + 15 minutes
    early = fast_policy(clock=lambda: T0 - timedelta(minutes=1), lead=timedelta(minutes=10))
    assert delivery.scan_deadlines(session_factory, early) == 0  # 16 minutes ahead: not yet
    near = fast_policy(clock=lambda: T0 + timedelta(minutes=6), lead=timedelta(minutes=10))
    assert delivery.scan_deadlines(session_factory, near) == 1
    assert delivery.scan_deadlines(session_factory, near) == 0  # told once, however often it scans
    with session_factory() as s:
        note = s.scalars(select(Notification).where(Notification.event == "deadline_near")).one()
        told = sorted(s.scalars(select(Delivery.channel).where(Delivery.notification_id == note.id)))
    assert note.due_at == T0 + timedelta(minutes=15) and told == ["app:tech_li", "app:tech_wang"]


def test_the_starter_is_told_when_the_case_ends(session_factory: Factory, deployed: Engine,
                                               staff: dict[str, Actor]) -> None:
    iid = start_dispatch(session_factory, deployed, staff["cs_chen"])
    with session_factory() as s:
        task_id = str(s.scalar(select(TaskRow.id).where(TaskRow.instance_id == iid)))
        run_unit(s, lambda: deployed.complete(s, task_id, {}, staff["tech_wang"], now=T0))
    with session_factory() as s:
        ended = s.scalars(select(Notification).where(Notification.event == "instance_ended")).one()
        told = s.scalars(select(Delivery.channel).where(Delivery.notification_id == ended.id)).all()
    assert ended.instance_id == iid and ended.message_zh == "closed" and told == ["app:cs_chen"]
