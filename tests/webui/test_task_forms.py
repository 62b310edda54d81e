"""Task pages: every field type, conditional fields, errors next to fields, 403/409, a full repair."""

from __future__ import annotations

import re

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.forms.model import FormDef
from engine.forms.validation import validate_submission
from engine.sandbox.scripting import SandboxEnvironment
from engine.store.models import ProcessInstance
from webui.case_view import CaseModel
from webui.extensions import db
from webui.forms_render import FormBuilder

from .conftest import REPAIR, login, open_task, start_case
from .test_inbox import client_for, dispatch

EVERY_TYPE = {"fields": [
    {"name": "note", "type": "text", "label_zh": "备注", "label_en": "Note", "max_length": 80},
    {"name": "details", "type": "textarea", "label_zh": "详情", "label_en": "Details", "required": True,
     "help_zh": "写清楚经过", "help_en": "Say what happened"},
    {"name": "count", "type": "integer", "label_zh": "件数", "label_en": "Count", "min": 1.0, "max": 9.0},
    {"name": "amount", "type": "number", "label_zh": "金额", "label_en": "Amount", "min": 0.0},
    {"name": "ok", "type": "boolean", "label_zh": "正常", "label_en": "OK", "required": True},
    {"name": "size", "type": "choice", "label_zh": "大小", "label_en": "Size", "options": [
        {"value": "s", "label_zh": "小", "label_en": "Small"},
        {"value": "l", "label_zh": "大", "label_en": "Large"}]},
    {"name": "floor", "type": "choice", "label_zh": "楼层", "label_en": "Floor", "options": [
        {"value": str(n), "label_zh": f"{n}楼", "label_en": f"Floor {n}"} for n in range(1, 7)]},
    {"name": "day", "type": "date", "label_zh": "日期", "label_en": "Day", "min": "2026-01-01"},
    {"name": "at", "type": "datetime", "label_zh": "时间", "label_en": "At",
     "default": "2026-11-23T02:30:00+00:00"},
    {"name": "who", "type": "user", "label_zh": "技工", "label_en": "Technician", "role": "technician"},
    {"name": "why", "type": "textarea", "label_zh": "原因", "label_en": "Why", "required_when": "not ok"},
]}


def render_fields(app: Flask, form: dict[str, object], case: dict[str, object] | None = None,
                  submitted: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None) -> str:
    """Render a form definition through the form macros, as the task page does."""
    with app.test_request_context("/"):
        views = FormBuilder(db.session, form, case or {}, CaseModel({})).views(submitted, errors)
        return render_template_string('{% import "macros/form.html" as forms %}{{ forms.fields(views) }}',
                                      views=views)


def field_block(html: str, name: str) -> str:
    """Return the HTML of one field's wrapper."""
    match = re.search(rf'<(div|fieldset) class="[^"]*" id="field-{name}".*?</\1>', html, re.S)
    assert match, f"field {name} not drawn"
    return match.group(0)


def test_every_field_type_renders_its_input(app: Flask) -> None:
    html = render_fields(app, EVERY_TYPE)
    assert 'name="note" type="text" value="" maxlength="80"' in field_block(html, "note")
    details = field_block(html, "details")
    assert "<textarea" in details and " required" in details and 'class="req"' in details
    assert "写清楚经过" in details
    assert 'inputmode="numeric"' in field_block(html, "count") and "须在 1 至 9 之间" in html
    assert 'inputmode="decimal"' in field_block(html, "amount") and "不得小于 0" in html
    yes_no = field_block(html, "ok")
    assert yes_no.startswith("<fieldset") and 'value="true"' in yes_no and "<span>是</span>" in yes_no
    assert "<span>否</span>" in yes_no
    assert 'type="radio" name="size"' in field_block(html, "size")  # few options: buttons
    assert '<select id="f-floor"' in field_block(html, "floor") and "6楼" in html  # many: a list
    assert 'type="date"' in field_block(html, "day") and 'min="2026-01-01"' in html
    assert 'type="datetime-local" value="2026-11-23T10:30"' in field_block(html, "at")  # Shanghai time
    picker = field_block(html, "who")
    assert 'value="technician"' in picker and 'value="technician2"' in picker
    assert 'value="cs_assistant"' not in picker  # only holders of the field's role


def test_a_condition_on_another_field_is_left_to_the_browser(app: Flask) -> None:
    why = field_block(render_fields(app, EVERY_TYPE), "why")
    assert 'data-show-when="ok" data-show-negated="true"' in why
    assert "「正常」选“否”时必填" in why


def test_a_condition_on_the_case_data_decides_on_the_server(app: Flask) -> None:
    repair = {"fields": [{"name": "charge_amount", "type": "number", "label_zh": "收费金额(元)",
                          "label_en": "Charge", "required_when": "paid", "min": 0.0}]}
    paid = field_block(render_fields(app, repair, {"paid": True}), "charge_amount")
    assert 'class="req"' in paid and " required" in paid and "data-show-when" not in paid
    assert 'id="field-charge_amount"' not in render_fields(app, repair, {"paid": False})


@pytest.mark.parametrize(("condition", "case"), [
    ("paid", {"paid": "false"}),  # a non-empty string is true to the engine; the old regex read it as no
    ("priority == 'high'", {"priority": "high"}),  # the old regex could not read it and left it optional
])
def test_a_condition_on_the_case_data_is_decided_as_the_engine_decides_it(
        app: Flask, condition: str, case: dict[str, object]) -> None:
    form = {"fields": [{"name": "reason", "type": "text", "label_zh": "原因", "label_en": "Reason",
                        "required_when": condition}]}
    _clean, errors = validate_submission(FormDef.from_dict(form), {}, case, SandboxEnvironment().evaluate,
                                         lambda _name: frozenset())
    assert errors["reason"][0].code == "required"
    drawn = field_block(render_fields(app, form, case), "reason")
    assert 'class="req"' in drawn and " required" in drawn


def test_a_redrawn_form_keeps_what_was_typed_and_shows_the_errors(app: Flask) -> None:
    html = render_fields(app, EVERY_TYPE, submitted={"details": "", "count": "三", "ok": "false"},
                         errors={"count": ["请输入整数"]})
    count = field_block(html, "count")
    assert 'value="三"' in count and "请输入整数" in count and 'aria-invalid="true"' in count
    assert 'value="false" checked' in field_block(html, "ok")


def repair_task(app: Flask, paid: bool = False) -> tuple[int, str]:
    """Start a repair, dispatch it, arrive; return the instance and its repair task."""
    instance_id = start_case(app, "repair_dispatch", {**REPAIR, "paid": "true" if paid else "false"},
                             "cs_assistant")
    dispatch(app, instance_id)
    technician = client_for(app, "technician")
    assert technician.post(f"/tasks/{open_task(app, instance_id, 'arrive_on_site')}").status_code == 302
    return instance_id, open_task(app, instance_id, "repair")


def test_field_error_is_shown_in_chinese_next_to_the_field_with_input_kept(process_app: Flask) -> None:
    _instance, task_id = repair_task(process_app, paid=True)
    response = client_for(process_app, "technician").post(
        f"/tasks/{task_id}", data={"result": "更换了三角阀", "charge_amount": "五十"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "此项为必填" in field_block(html, "fixed")
    charge = field_block(html, "charge_amount")
    assert "请输入数字" in charge and 'value="五十"' in charge
    assert "更换了三角阀</textarea>" in field_block(html, "result")
    assert 'id="error-summary"' in html and 'href="#field-fixed"' in html


def test_field_errors_follow_the_language(process_app: Flask) -> None:
    _instance, task_id = repair_task(process_app)
    client = client_for(process_app, "technician")
    client.post("/language/en", data={"next": "/"})
    html = client.post(f"/tasks/{task_id}", data={"result": "x"}).get_data(as_text=True)
    assert "This field is required." in field_block(html, "fixed")


def test_task_of_another_role_is_refused(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    task_id = open_task(process_app, instance_id, "dispatch")
    client = client_for(process_app, "housekeeping")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 403 and "这个任务属于您未担任的岗位" in page.get_data(as_text=True)
    assert client.post(f"/tasks/{task_id}", data={"trade": "other"}).status_code == 403
    assert client.get(f"/tasks/{task_id}/diagram.json").status_code == 403


def test_task_assigned_to_another_person_is_refused(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id, technician="technician")
    task_id = open_task(process_app, instance_id, "arrive_on_site")
    response = client_for(process_app, "technician2").post(f"/tasks/{task_id}")
    assert response.status_code == 403
    assert "这个任务已派给 维修技工（technician）" in response.get_data(as_text=True)


def test_completed_task_answers_409_saying_someone_else_did_it(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", {**REPAIR, "category": "consultation"},
                             "cs_assistant")
    task_id = open_task(process_app, instance_id, "give_guidance")
    late = client_for(process_app, "cs_assistant2")
    late.get(f"/tasks/{task_id}")  # both have the form open
    done = client_for(process_app, "cs_assistant").post(f"/tasks/{task_id}", data={"guidance": "已电话说明"})
    assert done.status_code == 302
    response = late.post(f"/tasks/{task_id}", data={"guidance": "我也说明了"})
    assert response.status_code == 409
    assert "这个任务已被他人完成（客服助理（cs_assistant）" in response.get_data(as_text=True)
    page = late.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "已由 客服助理（cs_assistant） 于 2026-11-23 10:00 完成" in page
    assert "data-pf-form" not in page  # nothing left to fill in


def test_task_page_shows_case_data_history_and_the_diagram(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    task_id = open_task(process_app, instance_id, "dispatch")
    client = client_for(process_app, "engineering_dispatcher")
    html = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "<dt>报修人</dt><dd>王先生</dd>" in html and "<dt>服务类别</dt><dd>工程维修</dd>" in html
    assert "客服助理（cs_assistant） 登记了此案件" in html and "「派工」等待 工程部调度 办理" in html
    assert f'data-diagram-url="/tasks/{task_id}/diagram.json"' in html
    assert "bpmn-navigated-viewer.production.min.js" in html and "<script>" not in html
    diagram = client.get(f"/tasks/{task_id}/diagram.json").get_json()
    assert diagram["current"] == ["dispatch"] and 'id="dispatch"' in diagram["xml"]
    assert diagram["visits"]["dispatch"]["active"] == 1


def signed_in(app: Flask, username: str) -> FlaskClient:
    """Sign in through the form with its CSRF token."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    assert login(client, username).status_code == 400  # without the token: refused
    response = client.post("/login", data={"username": username, "password": f"demo-{username}",
                                           "csrf_token": token.group(1)})
    assert response.status_code == 302
    return client


def submit(client: FlaskClient, path: str, data: dict[str, str], action: str | None = None) -> str:
    """Open a page, take the form's CSRF token and post the data; return where it redirects."""
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, f"no form on {path}"
    response = client.post(action or path, data={**data, "csrf_token": token.group(1)})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    return response.headers["Location"]


def my_task_link(client: FlaskClient, title: str, tab: str = "mine") -> str:
    """Return the link of a task of that title in an inbox tab."""
    html = client.get(f"/inbox?tab={tab}").get_data(as_text=True)
    match = re.search(r'<a href="(/tasks/[0-9a-f-]+)">' + re.escape(title) + "</a>", html)
    assert match, f"{title} not in the {tab} inbox"
    return match.group(1)


def test_full_repair_flow_through_the_pages(web: Flask) -> None:
    assistant = signed_in(web, "cs_assistant")
    assert assistant.post("/start/repair_dispatch", data=REPAIR).status_code == 400  # no token
    where = submit(assistant, "/start/repair_dispatch", REPAIR)
    assert where.startswith("/start/started/")
    assert "案件编号" in assistant.get(where).get_data(as_text=True)

    dispatcher = signed_in(web, "engineering_dispatcher")
    task = my_task_link(dispatcher, "派工", tab="group")
    assert submit(dispatcher, task, {"trade": "plumbing", "technician": "technician"}) == "/inbox"
    assert "「派工」已完成" in dispatcher.get("/inbox").get_data(as_text=True)

    technician = signed_in(web, "technician")
    submit(technician, my_task_link(technician, "到达现场"), {})
    submit(technician, my_task_link(technician, "维修并返单"), {"result": "更换三角阀", "fixed": "true"})

    foreman = signed_in(web, "area_foreman")
    submit(foreman, my_task_link(foreman, "区域领班确认", tab="group"), {"confirmed": "true"})

    callback = my_task_link(assistant, "客户回访", tab="group")
    submit(assistant, callback, {"satisfied": "true", "callback_method": "phone"})
    with web.app_context():
        instance = db.session.scalar(select(ProcessInstance))
        assert instance is not None and instance.status == "completed" and instance.outcome == "closed"
    history = assistant.get(callback).get_data(as_text=True)
    for line in ("维修技工（technician） 完成了「维修并返单」",
                 "区域领班（area_foreman） 完成了「区域领班确认」", "案件已办结"):
        assert line in history


def test_a_case_assigned_to_a_colleague_is_hidden_from_the_other_role_holders(process_app: Flask) -> None:
    instance_id = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    dispatch(process_app, instance_id, technician="technician")
    task_id = open_task(process_app, instance_id, "arrive_on_site")
    peer = client_for(process_app, "technician2")
    assert peer.get(f"/instances/{instance_id}").status_code == 403
    assert "13800001111" not in peer.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert peer.get(f"/api/v1/process-instances/{instance_id}").status_code == 403
    holder = client_for(process_app, "technician")
    assert "13800001111" in holder.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert holder.get(f"/api/v1/process-instances/{instance_id}").status_code == 200
