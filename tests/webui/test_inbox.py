"""The inbox: tabs with counts, filters, deadlines, claim and release, pagination, empty states."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import T0
from webui.engine_ext import get_engine

from .conftest import REPAIR, login, open_task, start_case


def client_for(app: Flask, username: str) -> FlaskClient:
    """Return a client signed in as a demo user."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def dispatch(app: Flask, instance_id: int, technician: str = "technician") -> None:
    """Do the dispatch step through the web page as the dispatcher."""
    task_id = open_task(app, instance_id, "dispatch")
    response = client_for(app, "engineering_dispatcher").post(
        f"/tasks/{task_id}", data={"trade": "plumbing", "technician": technician})
    assert response.status_code == 302


def set_clock(app: Flask, minutes: int) -> None:
    """Move the engine's clock to T0 plus some minutes."""
    with app.app_context():
        get_engine().clock = lambda: T0 + timedelta(minutes=minutes)


def tab_count(html: str, label: str) -> int:
    """Return the number shown in an inbox tab."""
    match = re.search(label + r'\s*<span class="tabs__count">(\d+)</span>', html)
    assert match, f"no tab {label}"
    return int(match.group(1))


def test_role_tasks_appear_under_my_roles_with_counts(process_app: Flask) -> None:
    start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    start_case(process_app, "repair_dispatch", {**REPAIR, "unit": "8F-801"}, "cs_assistant")
    client = client_for(process_app, "engineering_dispatcher")
    html = client.get("/inbox?tab=group").get_data(as_text=True)
    assert tab_count(html, "我的待办") == 0 and tab_count(html, "我的岗位") == 2
    assert html.count('<li class="taskcard') == 2
    assert "派工" in html and "客户报修 12F-1203" in html and "客户报修 8F-801" in html
    assert "tab=all" not in html  # the all tab is for managers and admins


def test_empty_inbox_says_what_to_do(process_app: Flask) -> None:
    html = client_for(process_app, "cs_assistant").get("/inbox").get_data(as_text=True)
    assert "您目前没有待办任务" in html
    assert 'href="/inbox?tab=group"' in html and 'href="/start"' in html


def test_claim_moves_a_task_to_my_tasks_and_release_gives_it_back(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    task_id = open_task(process_app, instance_id, "dispatch")
    client = client_for(process_app, "engineering_dispatcher")
    response = client.post(f"/tasks/{task_id}/claim", data={"next": "/inbox?tab=group"})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?tab=group"
    html = client.get("/inbox").get_data(as_text=True)
    assert "您已认领「派工」" in html and tab_count(html, "我的待办") == 1
    assert "已由您认领" in html and f"/tasks/{task_id}/release" in html and "取消认领" in html
    client.post(f"/tasks/{task_id}/release", data={"next": "/inbox"})
    html = client.get("/inbox").get_data(as_text=True)
    assert "「派工」已退回「工程部调度」岗位" in html and tab_count(html, "我的待办") == 0
    # Nothing of mine left: the inbox lands on my roles' queue, where the task is again.
    assert f"/tasks/{task_id}/claim" in html and tab_count(html, "我的岗位") == 1


def test_a_claimed_task_is_counted_once(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    start_case(process_app, "repair_dispatch", {**REPAIR, "unit": "8F-801"}, "cs_assistant")
    client = client_for(process_app, "engineering_dispatcher")
    client.post(f"/tasks/{open_task(process_app, instance_id, 'dispatch')}/claim", data={"next": "/inbox"})
    html = client.get("/inbox?tab=group").get_data(as_text=True)
    assert tab_count(html, "我的待办") == 1 and tab_count(html, "我的岗位") == 1
    assert html.count('<li class="taskcard') == 1 and "客户报修 8F-801" in html


def test_the_inbox_lands_on_my_roles_when_i_hold_nothing(process_app: Flask) -> None:
    start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    html = client_for(process_app, "engineering_dispatcher").get("/inbox").get_data(as_text=True)
    assert 'href="/inbox?tab=group" aria-current="page"' in html
    assert "客户报修 12F-1203" in html


def test_a_task_claimed_by_someone_else_cannot_be_claimed_again(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", {**REPAIR, "category": "consultation"},
                             "cs_assistant")
    task_id = open_task(process_app, instance_id, "give_guidance")
    client_for(process_app, "cs_assistant").post(f"/tasks/{task_id}/claim")
    response = client_for(process_app, "cs_assistant2").post(f"/tasks/{task_id}/claim")
    assert response.status_code == 409
    assert "这个任务已被 客服助理（cs_assistant） 认领" in response.get_data(as_text=True)


def test_release_of_a_task_the_process_assigned_is_refused(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id)
    task_id = open_task(process_app, instance_id, "arrive_on_site")
    client = client_for(process_app, "technician")
    assert f"/tasks/{task_id}/release" not in client.get("/inbox").get_data(as_text=True)
    response = client.post(f"/tasks/{task_id}/release")
    assert response.status_code == 409 and "不能退回" in response.get_data(as_text=True)


def test_due_time_is_shown_relative_and_absolute_in_shanghai_time(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id)
    set_clock(process_app, 5)
    html = client_for(process_app, "technician").get("/inbox").get_data(as_text=True)
    assert "10分钟后到期" in html and "截止 2026-11-23 10:15" in html
    assert "taskcard--overdue" not in html


def test_overdue_task_is_marked_in_words_not_only_colour(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id)
    set_clock(process_app, 35)
    html = client_for(process_app, "technician").get("/inbox").get_data(as_text=True)
    assert "taskcard--overdue" in html
    assert "已超时 20分钟" in html and "截止 2026-11-23 10:15" in html
    assert "1 项已超时" in html


def test_filters_by_process_and_overdue(process_app: Flask) -> None:
    late = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, late)
    start_case(process_app, "hazardous_goods_issuance",
               {"item": "alcohol", "quantity": "2", "purpose": "消毒", "location": "大堂"}, "cs_supervisor")
    set_clock(process_app, 35)
    admin = client_for(process_app, "admin")
    everything = admin.get("/inbox?tab=all").get_data(as_text=True)
    assert "到达现场" in everything and "审批领用" in everything
    only_hazard = admin.get("/inbox?tab=all&process=hazardous_goods_issuance").get_data(as_text=True)
    assert "审批领用" in only_hazard and "到达现场" not in only_hazard
    only_late = admin.get("/inbox?tab=all&overdue=1").get_data(as_text=True)
    assert "到达现场" in only_late and "审批领用" not in only_late
    none = admin.get("/inbox?tab=all&process=sealed_key_usage").get_data(as_text=True)
    assert "没有符合筛选条件的任务" in none and "清除筛选" in none


def test_all_tab_is_refused_to_staff_without_an_overview_role(process_app: Flask) -> None:
    assert client_for(process_app, "cs_assistant").get("/inbox?tab=all").status_code == 403


def test_inbox_pages_through_many_tasks_soonest_first(process_app: Flask) -> None:
    for number in range(23):
        start_case(process_app, "repair_dispatch", {**REPAIR, "unit": f"U{number:02d}"}, "cs_assistant")
    client = client_for(process_app, "engineering_dispatcher")
    first = client.get("/inbox?tab=group").get_data(as_text=True)
    assert first.count('<li class="taskcard') == 20 and "第 1 / 2 页" in first and "共 23 项" in first
    second = client.get("/inbox?tab=group&page=2").get_data(as_text=True)
    assert second.count('<li class="taskcard') == 3 and 'rel="prev"' in second


def test_inbox_speaks_english_when_chosen(process_app: Flask) -> None:
    start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    client = client_for(process_app, "engineering_dispatcher")
    client.post("/language/en", data={"next": "/inbox"})
    html = client.get("/inbox?tab=group").get_data(as_text=True)
    assert "My roles" in html and "Dispatch a technician" in html and "Repair dispatch" in html
    assert "Claim" in html
