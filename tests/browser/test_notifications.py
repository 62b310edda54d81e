"""The bell on a technician's phone counts up, without a reload, when the dispatcher assigns a repair."""

from __future__ import annotations

import uuid

from playwright.sync_api import ViewportSize, expect

from .conftest import People, shot
from .test_admin_flows import fill, open_task, start_repair, submit_task

PHONE: ViewportSize = {"width": 390, "height": 844}


def test_the_bell_count_rises_without_reload_when_another_user_assigns_a_task(people: People) -> None:
    unit = f"BELL-{uuid.uuid4().hex[:6]}"
    technician = people.page("technician", **PHONE)
    technician.goto("/notifications")
    read_all = technician.locator("form[action='/notifications/read-all'] button")
    if read_all.count():
        read_all.click()  # start from nothing unread, whatever earlier tests left
    technician.goto("/inbox")
    count = technician.locator(".bell__count")
    expect(count).to_be_hidden()
    technician.evaluate("window.__notReloaded = true")  # gone if the page were reloaded

    assistant = people.page("cs_assistant")
    start_repair(assistant, unit)
    dispatcher = people.page("engineering_dispatcher")
    open_task(dispatcher, unit, "group")
    fill(dispatcher, "trade", "plumbing")
    fill(dispatcher, "technician", "technician")
    submit_task(dispatcher)

    # Playwright waits for the polled badge (event-driven on our side: no sleep, no timing claim).
    expect(count).to_have_text("1", timeout=30_000)
    expect(count).to_be_visible()
    expect(technician.locator("main")).to_contain_text(unit, timeout=30_000)  # the inbox refreshed itself
    assert technician.evaluate("window.__notReloaded === true")
    shot(technician, "phone-bell-after-assignment")

    technician.click(".bell")
    expect(technician.locator(".notelist__item--unread").first).to_contain_text("分配给我的任务")
    shot(technician, "phone-notification-list")
