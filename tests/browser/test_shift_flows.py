"""A shift in chromium: find a case by phone, hand a task on, a photo from the site, a step one may not do."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from flask import Flask
from PIL import Image
from playwright.sync_api import Page, ViewportSize, expect

from engine.runtime import Actor
from engine.store import queries
from tests.webui.test_key_pages import seal_through_custody
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import People, shot
from .test_admin_flows import fill, no_sideways_scroll, start_repair, submit_task

pytestmark = pytest.mark.browser
PHONE: ViewportSize = {"width": 390, "height": 844}


def _dispatched(people: People, unit: str) -> tuple[int, Page]:
    """Start a repair for a unit and dispatch it to `technician`; return the case and the dispatcher."""
    case = start_repair(people.page("cs_assistant"), unit)
    dispatcher = people.page("engineering_dispatcher")
    dispatcher.goto("/inbox?tab=group")
    dispatcher.locator(".taskcard", has_text=unit).locator(".taskcard__title a").first.click()
    fill(dispatcher, "trade", "plumbing")
    fill(dispatcher, "technician", "technician")
    submit_task(dispatcher)
    return case, dispatcher


def test_a_caller_is_found_by_phone_tail_with_where_the_case_stands(people: People) -> None:
    unit = f"S-{uuid.uuid4().hex[:6]}"
    case, _dispatcher = _dispatched(people, unit)
    assistant2 = people.page("cs_manager")
    assistant2.goto("/instances")
    assistant2.fill("#case-q", unit)
    assistant2.press("#case-q", "Enter")
    row = assistant2.locator(".table--instances tbody tr", has_text=f"{case:06d}")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("到达现场")
    expect(row).to_contain_text("维修技工（technician）")
    shot(assistant2, "search")
    phone = people.page("cs_assistant", **PHONE)
    phone.goto(f"/instances?q={unit}")
    expect(phone.locator(".table--instances tbody tr")).to_have_count(1)
    no_sideways_scroll(phone)


def test_a_dispatcher_hands_a_late_technicians_task_to_another(people: People) -> None:
    unit = f"H-{uuid.uuid4().hex[:6]}"
    case, dispatcher = _dispatched(people, unit)
    dispatcher.goto(f"/instances/{case}")
    dispatcher.locator(".open-tasks a").first.click()
    dispatcher.wait_for_url(re.compile(r"/tasks/"))
    dispatcher.select_option("#handon-assignee", "technician2")
    shot(dispatcher.locator(".handon-form").locator("xpath=.."), "handoff")
    dispatcher.click(".handon-form button[type=submit]")
    expect(dispatcher.locator(".alert--success")).to_contain_text("已转交给")
    other = people.page("technician2")
    other.goto("/inbox")
    expect(other.locator(".taskcard", has_text=unit)).to_have_count(1)


def test_a_photo_taken_on_site_shows_on_the_task_and_in_its_history(people: People) -> None:
    unit = f"P-{uuid.uuid4().hex[:6]}"
    _dispatched(people, unit)
    technician = people.page("technician", **PHONE)
    technician.goto("/inbox?tab=mine")
    technician.locator(".taskcard", has_text=unit).locator(".taskcard__title a").first.click()
    technician.wait_for_url(re.compile(r"/tasks/"))
    picture = io.BytesIO()
    Image.new("RGB", (1600, 1200), (70, 130, 180)).save(picture, "JPEG")
    technician.fill("#note-body", "卫生间角阀渗漏，已关总阀")
    technician.set_input_files("#note-file", {"name": "leak.jpg", "mimeType": "image/jpeg",
                                              "buffer": picture.getvalue()})
    technician.click(".comment-form button[type=submit]")
    expect(technician.locator(".alert--success")).to_contain_text("已保存到案件")
    thumb = technician.locator(".notes-card .attachments img")
    expect(thumb).to_have_count(1)
    # The count appears with the tag; its pixels arrive with a second request: wait for that load.
    technician.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    assert technician.evaluate("img => img.naturalWidth", thumb.element_handle()) == 320
    history = technician.locator('section[aria-labelledby="history-title"]')
    expect(history.locator(".timeline__text", has_text="附上了 leak.jpg")).to_have_count(1)
    no_sideways_scroll(technician)
    shot(technician.locator(".notes-card"), "photo-on-task")


def test_a_manager_sees_why_they_may_not_sign_their_own_report_before_typing(
        people: People, live_app: Flask) -> None:
    unit = f"K-{uuid.uuid4().hex[:6]}"
    seal_through_custody(live_app, unit, f"F-{unit}")
    with live_app.app_context():
        engine = get_engine()
        report = {"unit": unit, "incident_type": "lost", "discovered_at": "2024-03-01T09:00",
                  "account": "封条破损"}
        manager = Actor("cs_manager", frozenset({"cs_manager"}))
        inst = engine.start(db.session, "sealed_key_incident", report, manager)
        db.session.commit()
        [handle] = queries.get_instance(db.session, inst.id, Actor("admin", frozenset({"admin"})),
                                        engine.clock()).open_tasks
        engine.complete(db.session, handle.id, {"findings": "已查", "customer_notified": True,
                                                "actions_taken": "换锁", "new_seal_number": "S-2"},
                        Actor("cs_supervisor", frozenset({"cs_supervisor"})))
        db.session.commit()
    manager = people.page("cs_manager")
    manager.goto("/inbox?tab=group")
    card = manager.locator(".taskcard", has_text=unit)
    expect(card.locator("[data-blocked]")).to_contain_text("申请人不得自行审批")
    expect(card.locator("button", has_text="认领")).to_have_count(0)
    card.locator(".taskcard__title a").click()
    expect(manager.locator('[data-blocked="not_starter"]')).to_be_visible()
    expect(manager.locator("form[data-pf-form]")).to_have_count(0)
    shot(manager, "blocked-task")


def test_on_a_phone_the_top_bar_leaves_the_screen_to_the_work(people: People) -> None:
    manager = people.page("cs_manager", **PHONE)
    manager.goto("/inbox")
    height = manager.evaluate("document.querySelector('.topbar').getBoundingClientRect().height")
    assert height <= 120, f"top bar {height}px of 844"
    no_sideways_scroll(manager)


def test_a_read_only_diagram_zooms_and_fits(people: People) -> None:
    unit = f"Z-{uuid.uuid4().hex[:6]}"
    case = start_repair(people.page("cs_assistant"), unit)
    admin = people.page("admin", **PHONE)
    admin.goto(f"/instances/{case}")
    expect(admin.locator("#instance-diagram[data-ready=true]")).to_be_attached()
    admin.click('[data-zoom="in"][data-zoom-target="instance-diagram"]')
    bigger = float(admin.locator("#instance-diagram").get_attribute("data-zoom-scale") or 0)
    admin.click('[data-zoom="out"][data-zoom-target="instance-diagram"]')
    smaller = float(admin.locator("#instance-diagram").get_attribute("data-zoom-scale") or 0)
    assert bigger > smaller > 0
    admin.click('[data-zoom="fit"][data-zoom-target="instance-diagram"]')
    no_sideways_scroll(admin)
