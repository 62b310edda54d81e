"""Done when (most of it): a process owner builds a three-step process from the template in the browser
(never the XML area), with the lane's role and a required choice field, deploys it, and staff complete
it. Dropping a deadline timer on a task needs a drag Playwright does not deliver to bpmn-js yet."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select as sql_select

from engine.store.models import ProcessInstance, ProcessVersion
from webui.extensions import db

from .conftest import People, shot
from .test_admin_flows import rename_in_panel
from .test_process_editor import open_group


def select(page: Page, element_id: str) -> None:
    """Click an element of the diagram."""
    page.locator(f'.djs-element.djs-shape[data-element-id="{element_id}"]').first.click()


def selected_id(page: Page) -> str:
    """Return the id of the element the properties panel shows."""
    open_group(page, "一般")
    return page.locator("#bio-properties-panel-id").input_value()


def context(page: Page, action: str) -> None:
    """Click an entry of the selected element's context pad."""
    page.locator(f'.djs-context-pad [data-action="{action}"]').first.click()


def append_user_task(page: Page, name: str, english: str) -> str:
    """Append a task to the selected element, make it a user task with titles and an empty form."""
    context(page, "append.append-task")
    context(page, "replace")
    page.locator('.djs-popup [data-id="replace-with-user-task"]').click()
    rename_in_panel(page, name)
    open_group(page, "流程设置")
    page.fill("#bio-properties-panel-pf-title-en", english)
    page.press("#bio-properties-panel-pf-title-en", "Tab")
    # No form yet: only "add a form" is offered, not the field/rule buttons of a form.
    expect(page.locator("#form-actions")).to_be_hidden()
    page.click("#form-add-form")
    expect(page.locator("#form-add-field")).to_be_visible()
    return selected_id(page)


def test_a_process_owner_builds_and_deploys_a_process_that_staff_complete(
    people: People, live_app: Flask
) -> None:
    key = f"move_in_{uuid.uuid4().hex[:6]}"
    owner = people.page("process_owner")
    owner.goto("/models/new")
    owner.fill("#new-key", key)
    owner.fill("#new-name_zh", "入伙验房")
    owner.fill("#new-name_en", "Move-in inspection")
    owner.select_option("#new-role", "cs_assistant")
    owner.check('#new-lanes input[value="cs_supervisor"]')  # a lane per role: one more
    owner.click("main form button[type=submit]")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()

    # Three steps: the template's task, then two appended user tasks, then the end.
    select(owner, "end")
    context(owner, "delete")
    select(owner, "first_task")
    rename_in_panel(owner, "登记")
    append_user_task(owner, "核实", "Verify")
    append_user_task(owner, "确认", "Confirm")
    context(owner, "append.end-event")

    # The lane's role, picked from the role list.
    lane = owner.locator(".djs-element.djs-shape[data-element-id='Lane_cs_assistant']").first
    box = lane.bounding_box()
    assert box is not None
    owner.mouse.click(box["x"] + box["width"] - 60, box["y"] + 20)  # the palette covers the label band
    open_group(owner, "流程设置")
    owner.select_option("#bio-properties-panel-pf-lane-role", "cs_assistant")

    # A required choice field on the first task, built in the form builder and previewed.
    select(owner, "first_task")
    owner.click("#form-add-field")
    row = owner.locator(".form-builder__field").last
    row.locator("input[data-attr=name]").fill("result")
    row.locator("input[data-attr=name]").press("Tab")
    row.locator("input[data-attr=label-zh]").fill("验房结果")
    row.locator("input[data-attr=label-zh]").press("Tab")
    row.locator("select[data-attr=type]").select_option("choice")
    row = owner.locator(".form-builder__field").last
    row.locator("input[data-attr=required]").check()
    row.locator("button", has_text="添加选项").click()
    owner.locator(".form-builder__field").last.locator("button", has_text="添加选项").click()
    expect(owner.locator("#form-preview input[type=radio][name=result]")).to_have_count(2)
    shot(owner, "done-when-form")

    # A deadline on the first task, from the side bar's action (a timer on the task leading to an end).
    select(owner, "start")
    select(owner, "first_task")
    expect(owner.locator("#add-deadline")).to_be_visible()
    owner.click("#add-deadline")
    open_group(owner, "流程设置")
    deadline = owner.locator("#bio-properties-panel-pf-timer-value")
    expect(deadline).to_have_value("PT24H")
    owner.select_option("#bio-properties-panel-pf-timer-kind", "timeDate")  # on the business calendar
    deadline.fill("working_hours(24)")
    deadline.press("Tab")
    expect(owner.locator("#modeler-panel")).to_contain_text("24 个工作小时")
    shot(owner, "done-when-deadline")
    xml = owner.locator("#bpmn-xml").input_value()
    assert 'attachedToRef="first_task"' in xml and "working_hours(24)</bpmn:timeDate>" in xml
    assert xml.count("<bpmn:lane ") == 2

    owner.click("#save-button")
    expect(owner.locator("#editor-message")).to_contain_text("草稿已保存")
    expect(owner.locator(".problems")).to_have_count(0)
    owner.click("#deploy-button")
    owner.wait_for_url(re.compile(rf"/models/{key}/versions/1$"))

    # A staff member starts it and completes the three steps from the inbox.
    staff = people.page("cs_assistant")
    staff.goto(f"/start/{key}")
    staff.fill("#f-description", "3A 入伙验房")
    with staff.expect_navigation():
        staff.click("form[data-pf-form] button[type=submit]")
    for title in ("登记", "核实", "确认"):
        if "/tasks/" not in staff.url:  # the starter is taken to the next step when it is theirs
            staff.goto("/inbox?tab=group")
            # Cards of this process only: other tests' cases may have steps with the same words.
            card = staff.locator(".taskcard", has_text="入伙验房")
            card.locator(".taskcard__title a", has_text=title).first.click()
            staff.wait_for_url(re.compile(r"/tasks/"))
        expect(staff.locator("h1")).to_contain_text(title)
        if title == "登记":
            staff.locator('input[type=radio][name=result][value="option_1"]').check()
        with staff.expect_navigation():
            staff.click("form.task-form button[type=submit]")
        expect(staff.locator(".field__error, .alert--error")).to_have_count(0)
    staff.goto("/inbox?tab=group")
    expect(staff.locator(".taskcard", has_text="入伙验房").locator(".taskcard__title", has_text="确认")
           ).to_have_count(0)
    shot(staff, "done-when-finished")
    with live_app.app_context():
        statuses = list(
            db.session.scalars(
                sql_select(ProcessInstance.status)
                .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
                .where(ProcessVersion.process_key == key)
            )
        )
    assert statuses == ["completed"]
