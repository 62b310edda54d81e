"""Case states as people read them: a rejection is no success, a paused case offers no work, input is kept."""

from __future__ import annotations

from flask import Flask

from engine.runtime import Actor
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import REPAIR, open_task, start_case
from .test_inbox import client_for
from .test_key_pages import seal_through_custody

EMERGENCY_REACHABLE = {"unit": "12F-1203", "reason": "emergency", "customer_reachable": "true",
                       "customer_can_attend": "true",
                       "description": "漏水", "applicant_name": "王先生", "applicant_company": "甲公司"}


def _suspend(app: Flask, instance_id: int) -> None:
    with app.app_context():
        get_engine().suspend(db.session, instance_id, Actor("admin", frozenset({"admin"})), "等待业主")
        db.session.commit()


def test_a_rejected_request_is_not_shown_as_a_success(process_app: Flask) -> None:
    seal_through_custody(process_app, EMERGENCY_REACHABLE["unit"], "F-000778")
    assistant = client_for(process_app, "cs_assistant")
    response = assistant.post("/start/sealed_key_usage", data=EMERGENCY_REACHABLE)
    assert response.status_code == 302
    page = assistant.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-outcome="rejected"' in page and "申请已驳回" in page and "应联系客户" in page
    assert "✓" not in page and "案件已办结" not in page
    listing = client_for(process_app, "cs_manager").get("/instances?process=sealed_key_usage")
    text = listing.get_data(as_text=True)
    assert "status--rejected" in text and "status--completed" not in text


def test_a_suspended_case_offers_no_claim_no_form_and_no_countdown(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    task_id = open_task(process_app, instance_id, "dispatch")
    _suspend(process_app, instance_id)
    dispatcher = client_for(process_app, "engineering_dispatcher")
    inbox = dispatcher.get("/inbox?tab=group").get_data(as_text=True)
    assert f"/tasks/{task_id}/claim" not in inbox and "案件已暂停" in inbox and "到期" not in inbox
    page = dispatcher.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'data-blocked="case_suspended"' in page and "data-pf-form" not in page


def test_what_was_typed_is_shown_back_when_the_case_was_paused_meanwhile(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    task_id = open_task(process_app, instance_id, "dispatch")
    dispatcher = client_for(process_app, "engineering_dispatcher")
    assert "data-pf-form" in dispatcher.get(f"/tasks/{task_id}").get_data(as_text=True)
    _suspend(process_app, instance_id)  # while the dispatcher was typing
    response = dispatcher.post(f"/tasks/{task_id}", data={"trade": "plumbing", "technician": "technician2"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "data-typed" in page
    assert "<dt>工种</dt>" in page and "technician2</textarea>" in page and ">plumbing<" not in page


def test_terminate_asks_for_confirmation(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    page = client_for(process_app, "admin").get(f"/instances/{instance_id}").get_data(as_text=True)
    assert 'data-confirm="确定要终止此案件吗？' in page


def test_english_mode_uses_english_punctuation(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatcher = client_for(process_app, "engineering_dispatcher")
    dispatcher.post("/language/en", data={"next": "/inbox"})
    page = dispatcher.get(f"/tasks/{open_task(process_app, instance_id, 'dispatch')}").get_data(as_text=True)
    assert "Role: " in page and "：" not in page.split("<main", 1)[1].split("case-data", 1)[0]
    names = client_for(process_app, "cs_manager")
    names.post("/language/en", data={"next": "/instances"})
    listing = names.get("/instances").get_data(as_text=True)
    assert "(cs_assistant)" in listing and "（cs_assistant）" not in listing


def test_the_case_history_names_people_once_and_shows_no_internal_ids(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    page = client_for(process_app, "cs_manager").get(f"/instances/{instance_id}").get_data(as_text=True)
    assert '<span class="history__actor">客服助理（cs_assistant）</span>' in page
    assert '<span class="history__actor">cs_assistant</span>' not in page
