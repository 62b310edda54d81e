"""End to end in chromium: a repair through every role, the admin's diagram, the modeler, figures."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import Flask
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import select

from engine.runtime import Actor
from engine.store.models import ProcessInstance, ProcessVersion
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import People, shot

pytestmark = pytest.mark.browser
TABLET: ViewportSize = {"width": 768, "height": 1024}


def fill(page: Page, name: str, value: str) -> None:
    """Answer one form field whatever its widget (radios, select, text)."""
    radio = page.locator(f'input[type=radio][name="{name}"][value="{value}"]')
    if radio.count():
        radio.check()
        return
    field = page.locator(f"#f-{name}")
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def open_task(page: Page, unit: str, tab: str) -> None:
    """Open the task of the case for a unit from an inbox tab."""
    page.goto(f"/inbox?tab={tab}")
    page.locator(".taskcard", has_text=unit).locator(".taskcard__title a").first.click()
    page.wait_for_url(re.compile(r"/tasks/"))


def submit_task(page: Page) -> None:
    """Submit the task form and wait for the inbox."""
    page.click("form.task-form button[type=submit]")
    page.wait_for_url(re.compile(r"/inbox"))


def start_repair(page: Page, unit: str) -> int:
    """Register a repair request through the start form; return the case id."""
    page.goto("/start/repair_dispatch")
    for name, value in (("channel", "phone"), ("reporter_name", "王先生"), ("contact_phone", "13800001111"),
                        ("unit", unit), ("description", "卫生间漏水"), ("category", "repair"),
                        ("paid", "false")):
        fill(page, name, value)
    page.click("form[data-pf-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/start/started/\d+"))
    match = re.search(r"/start/started/(\d+)", page.url)
    assert match
    return int(match.group(1))


def no_sideways_scroll(page: Page) -> None:
    """Assert the page fits the viewport's width (nothing cut off on a tablet)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the viewport"


def marker(page: Page, element: str) -> str:
    """Return the CSS classes bpmn-js gave an element of the diagram."""
    return page.locator(f'.djs-element[data-element-id="{element}"]').first.get_attribute("class") or ""


def test_a_repair_runs_through_every_role_and_the_admin_sees_its_path(people: People) -> None:
    unit = f"E2E-{uuid.uuid4().hex[:6]}"
    assistant = people.page("cs_assistant")
    case = start_repair(assistant, unit)
    expect(assistant.locator(".alert--success")).to_be_visible()

    dispatcher = people.page("engineering_dispatcher")
    open_task(dispatcher, unit, "group")
    fill(dispatcher, "trade", "plumbing")
    fill(dispatcher, "technician", "technician")
    submit_task(dispatcher)

    technician = people.page("technician", **TABLET)  # at the desk or on site: a tablet
    technician.goto("/inbox")
    no_sideways_scroll(technician)
    shot(technician, "tablet-inbox")
    open_task(technician, unit, "mine")
    submit_task(technician)  # arrived on site
    open_task(technician, unit, "mine")
    technician.click("form.task-form button[type=submit]")  # nothing filled in: refused
    error = technician.locator("#f-result-error")
    expect(error).to_contain_text("此项为必填")
    expect(technician.locator("#error-summary")).to_be_visible()
    no_sideways_scroll(technician)
    shot(technician, "tablet-form-error-zh")
    fill(technician, "result", "更换了角阀")
    fill(technician, "fixed", "true")
    submit_task(technician)

    foreman = people.page("area_foreman")
    open_task(foreman, unit, "group")
    fill(foreman, "confirmed", "true")
    submit_task(foreman)

    open_task(assistant, unit, "group")
    fill(assistant, "satisfied", "true")
    fill(assistant, "callback_method", "phone")
    submit_task(assistant)

    admin = people.page("admin")
    admin.goto(f"/instances?q={unit}")
    expect(admin.locator(".table--instances .status--completed")).to_be_visible()
    shot(admin, "admin-instances")
    admin.click(f'a[href="/instances/{case}"] >> nth=0')
    expect(admin.locator("#instance-diagram[data-ready=true]")).to_be_attached()
    for element in ("start", "dispatch", "arrive_on_site", "repair", "foreman_confirm", "callback"):
        assert "pf-completed" in marker(admin, element), element
    assert "pf-completed" not in marker(admin, "give_guidance")
    assert admin.locator(".djs-element.pf-active").count() == 0
    assert admin.locator(".djs-connection.pf-taken").count() >= 6
    expect(admin.locator("h1 .status--completed")).to_have_text("已完成")
    shot(admin, "admin-instance-path")
    shot(admin.locator("#instance-diagram"), "admin-instance-diagram")
    admin.set_viewport_size(TABLET)
    admin.reload()
    expect(admin.locator("#instance-diagram[data-ready=true]")).to_be_attached()
    no_sideways_scroll(admin)
    shot(admin, "tablet-admin-instance")


def start_with_engine(app: Flask, unit: str) -> int:
    """Start a repair directly through the engine (the setup, not what is being tested)."""
    data = {"channel": "phone", "reporter_name": "赵女士", "contact_phone": "13900002222", "unit": unit,
            "description": "空调不制冷", "category": "repair", "paid": "false"}
    with app.app_context():
        assistant = Actor("cs_assistant", frozenset({"cs_assistant"}))
        inst = get_engine().start(db.session, "repair_dispatch", data, assistant)
        db.session.commit()
        return inst.id


def finish_with_engine(app: Flask, case: int) -> None:
    """Complete the remaining repair steps through the engine as the right users."""
    from engine.store.models import TaskRow

    Step = tuple[str, str, str, dict[str, object]]
    steps: tuple[Step, ...] = (
        ("arrive_on_site", "technician", "technician", {}),
        ("repair", "technician", "technician", {"result": "加氟", "fixed": True}),
        ("foreman_confirm", "area_foreman", "area_foreman", {"confirmed": True}),
        ("callback", "cs_assistant", "cs_assistant", {"satisfied": True, "callback_method": "phone"}))
    with app.app_context():
        for name, username, role, data in steps:
            task = db.session.scalar(select(TaskRow.id).where(
                TaskRow.instance_id == case, TaskRow.element_id == name, TaskRow.status == "open"))
            assert task is not None, name
            get_engine().complete(db.session, task, data, Actor(username, frozenset({role})))
            db.session.commit()


def version_of(app: Flask, case: int) -> int:
    """Return the process version a case runs on."""
    with app.app_context():
        inst = db.session.get(ProcessInstance, case)
        assert inst is not None
        version = db.session.get(ProcessVersion, inst.version_id)
        assert version is not None
        return version.version


def rename_in_panel(page: Page, name: str) -> None:
    """Type a new name into the properties panel's General group (opened when closed)."""
    name_input = page.locator("#bio-properties-panel-name")
    if not name_input.is_visible():
        general = re.compile("General|常规|通用|一般")
        page.locator(".bio-properties-panel-group-header", has_text=general).first.click()
    name_input.fill(name)
    name_input.press("Tab")


@pytest.mark.usefixtures("shipped_processes_afterwards")
def test_a_process_owner_renames_a_task_and_deploys_while_an_old_case_finishes(
        people: People, live_app: Flask) -> None:
    old_unit = f"OLD-{uuid.uuid4().hex[:6]}"
    old_case = start_with_engine(live_app, old_unit)
    owner = people.page("process_owner")
    owner.goto("/models/repair_dispatch/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    base = owner.locator("input[name=base_hash]").input_value()
    owner.locator('.djs-element[data-element-id="dispatch"]').first.click()
    rename_in_panel(owner, "派工安排")
    expect(owner.locator('.djs-element[data-element-id="dispatch"] .djs-label, '
                         '.djs-element[data-element-id="dispatch"] text').first).to_contain_text("派工安排")
    shot(owner, "modeler-rename")
    owner.click("#deploy-button")
    owner.wait_for_url(re.compile(r"/models/repair_dispatch/versions/\d+$"))
    expect(owner.locator(".alert--success")).to_be_visible()
    new_version = int(owner.url.rsplit("/", 1)[1])
    assert new_version >= 2
    expect(owner.locator("#model-diagram[data-ready=true]")).to_be_attached()
    shot(owner, "model-version")
    owner.goto(f"/models/repair_dispatch/compare?a={new_version - 1}&b={new_version}")
    expect(owner.locator(".changelist")).to_contain_text("派工安排")
    shot(owner, "model-compare")

    # The old case is still on its version: its dispatcher sees the old title, then it finishes.
    dispatcher = people.page("engineering_dispatcher")
    dispatcher.goto("/inbox?tab=group")
    old_card = dispatcher.locator(".taskcard", has_text=old_unit)
    expect(old_card.locator(".taskcard__title")).to_have_text("派工")
    open_task(dispatcher, old_unit, "group")
    fill(dispatcher, "trade", "hvac")
    fill(dispatcher, "technician", "technician")
    submit_task(dispatcher)
    finish_with_engine(live_app, old_case)
    assert version_of(live_app, old_case) == new_version - 1
    new_case = start_with_engine(live_app, f"NEW-{uuid.uuid4().hex[:6]}")
    assert version_of(live_app, new_case) == new_version
    dispatcher.goto("/inbox?tab=group")
    expect(dispatcher.locator(".taskcard__title", has_text="派工安排").first).to_be_visible()
    admin = people.page("admin")
    admin.goto(f"/instances/{new_case}")
    expect(admin.locator("#instance-diagram[data-ready=true]")).to_be_attached()
    assert "pf-active" in marker(admin, "dispatch")
    expect(admin.locator("form.admin-actions textarea[name=reason]")).to_be_visible()
    shot(admin, "admin-instance-running")
    # A second deploy from the editor opened before this one is refused.
    owner.goto("/models/repair_dispatch/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    owner.evaluate("base => { document.querySelector('input[name=base_hash]').value = base; }", base)
    owner.locator('.djs-element[data-element-id="arrive_on_site"]').first.click()
    rename_in_panel(owner, "到场")
    owner.click("#deploy-button")
    expect(owner.locator("#editor-message")).to_contain_text("之后")
    shot(owner, "modeler-stale-deploy")


def test_the_modeler_marks_every_problem_on_its_element(people: People) -> None:
    owner = people.page("process_owner")
    owner.goto("/models/complaint_handling/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    lane = owner.locator(".djs-element.djs-shape[data-element-id^='Lane_']").first
    lane_id = lane.get_attribute("data-element-id")
    box = lane.bounding_box()
    assert box is not None
    owner.mouse.click(box["x"] + 15, box["y"] + box["height"] / 2)  # the lane's label band
    rename_in_panel(owner, "无岗位泳道")
    owner.click("#save-button")
    expect(owner.locator(".problems")).to_be_visible()
    expect(owner.locator(f'.problems [data-element="{lane_id}"]')).to_be_visible()
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    assert "pf-problem" in marker(owner, lane_id or "")
    shot(owner, "modeler-problems")


def test_figures_and_registers_render_with_charts(people: People, live_app: Flask) -> None:
    case = start_with_engine(live_app, f"FIG-{uuid.uuid4().hex[:6]}")
    with live_app.app_context():
        from engine.store.models import TaskRow

        # Dispatched and on site at once: one decided repair-timeliness case for the charts.
        dispatch = {"trade": "civil", "technician": "technician2"}
        for username, role, data in (("engineering_dispatcher", "engineering_dispatcher", dispatch),
                                     ("technician2", "technician", {})):
            task = db.session.scalar(select(TaskRow.id).where(TaskRow.instance_id == case,
                                                              TaskRow.status == "open"))
            assert task is not None
            get_engine().complete(db.session, task, data, Actor(username, frozenset({role})))
            db.session.commit()
    manager = people.page("cs_manager")
    manager.goto("/figures")
    expect(manager.locator("body[data-charts-ready=true]")).to_be_attached()
    assert manager.locator("canvas#chart-overview").bounding_box() is not None
    shot(manager, "figures")
    manager.goto("/registers/hazardous-goods")
    manager.select_option("#si-item", "alcohol")
    manager.fill("#si-quantity", "abc")
    manager.click("form[action$='stock-in'] button[type=submit]")
    expect(manager.locator("#quantity-error")).to_be_visible()
    manager.fill("#si-quantity", "12")
    manager.click("form[action$='stock-in'] button[type=submit]")
    expect(manager.locator(".alert--success")).to_contain_text("12")
    shot(manager, "registers")
    manager.set_viewport_size(TABLET)
    manager.goto("/figures")
    expect(manager.locator("body[data-charts-ready=true]")).to_be_attached()
    no_sideways_scroll(manager)
    shot(manager, "tablet-figures")
