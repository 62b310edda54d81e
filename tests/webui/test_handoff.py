"""Hand-offs: a task one may not do says why before any typing and goes to someone who may."""

from __future__ import annotations

from flask import Flask

from engine.store import queries
from engine.store.models import TaskRow
from engine.users import create_user
from webui.extensions import db

from .conftest import REPAIR, login, open_task, start_case
from .test_inbox import client_for, dispatch
from .test_key_pages import seal_through_custody

INCIDENT = {"unit": "12F-1203", "incident_type": "lost", "discovered_at": "2024-03-01T09:00",
            "account": "封条破损"}


def _manager_must_sign_own_report(app: Flask) -> tuple[int, str]:
    """cs_manager reports an incident; the supervisor handles it; the sign-off is the manager's step."""
    seal_through_custody(app, INCIDENT["unit"], "F-000777")
    instance_id = start_case(app, "sealed_key_incident", INCIDENT, "cs_manager")
    handle = open_task(app, instance_id, "handle_incident")
    response = client_for(app, "cs_supervisor").post(f"/tasks/{handle}", data={
        "findings": "已查", "customer_notified": "true", "actions_taken": "换锁", "new_seal_number": "S-2"})
    assert response.status_code == 302
    return instance_id, open_task(app, instance_id, "manager_sign")


def test_a_step_the_rules_forbid_me_shows_why_before_any_typing(process_app: Flask) -> None:
    _instance, sign = _manager_must_sign_own_report(process_app)
    manager = client_for(process_app, "cs_manager")
    inbox = manager.get("/inbox?tab=group").get_data(as_text=True)
    assert "您不能办理这个任务" in inbox and "申请人不得自行审批" in inbox
    assert f"/tasks/{sign}/claim" not in inbox
    page = manager.get(f"/tasks/{sign}").get_data(as_text=True)
    assert 'data-blocked="not_starter"' in page and 'data-pf-form' not in page
    assert "目前没有其他人担任该岗位" in page  # the route: an administrator names a deputy


def test_the_blocked_manager_hands_the_step_to_a_deputy_who_completes_it(process_app: Flask) -> None:
    instance_id, sign = _manager_must_sign_own_report(process_app)
    with process_app.app_context():
        create_user(db.session, "deputy", "deputy-password-1", ["cs_manager"], display_name="副经理")
        db.session.commit()
    manager = client_for(process_app, "cs_manager")
    page = manager.get(f"/tasks/{sign}").get_data(as_text=True)
    assert "可以办理的同事：副经理（deputy）" in page and f'action="/tasks/{sign}/reassign"' in page
    response = manager.post(f"/tasks/{sign}/reassign", data={"assignee": "deputy", "next": "/inbox"})
    assert response.status_code == 302
    assert "已转交给 副经理（deputy）" in manager.get("/inbox").get_data(as_text=True)
    deputy = process_app.test_client()
    assert login(deputy, "deputy", "deputy-password-1").status_code == 302
    assert deputy.post(f"/tasks/{sign}", data={"sign_note": "同意"}).status_code == 302
    with process_app.app_context():
        assert queries.instance_status(db.session, instance_id) == "completed"


def test_handing_on_to_someone_the_rules_forbid_is_refused_and_changes_nothing(process_app: Flask) -> None:
    _instance, sign = _manager_must_sign_own_report(process_app)
    with process_app.app_context():
        create_user(db.session, "deputy", "deputy-password-1", ["cs_manager"], display_name="副经理")
        db.session.commit()
    admin = client_for(process_app, "admin")
    response = admin.post(f"/tasks/{sign}/reassign", data={"assignee": "cs_manager"})
    assert response.status_code == 422 and "不能办理这个任务" in response.get_data(as_text=True)
    with process_app.app_context():
        assert db.session.get(TaskRow, sign).assignee is None


def test_a_dispatcher_redispatches_a_late_technician(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id, "technician")
    arrive = open_task(process_app, instance_id, "arrive_on_site")
    dispatcher = client_for(process_app, "engineering_dispatcher")
    page = dispatcher.get(f"/tasks/{arrive}").get_data(as_text=True)
    assert '<option value="technician2">' in page
    assert dispatcher.post(f"/tasks/{arrive}/reassign", data={"assignee": "technician2"}).status_code == 302
    mine = client_for(process_app, "technician2").get("/inbox").get_data(as_text=True)
    assert f"/tasks/{arrive}" in mine and "取消认领" not in mine  # assigned by a person, not claimed
    page = client_for(process_app, "technician2").get(f"/tasks/{arrive}").get_data(as_text=True)
    assert "data-pf-form" in page
