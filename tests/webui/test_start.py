"""Starting cases: what each role may start, the start form, and where starting leads."""

from __future__ import annotations

from flask import Flask

from .conftest import REPAIR
from .test_inbox import client_for


def test_start_page_lists_only_what_my_roles_may_start(process_app: Flask) -> None:
    assistant = client_for(process_app, "cs_assistant").get("/start").get_data(as_text=True)
    for name in ("客户报修", "客户投诉处理", "封存钥匙使用审批", "危险品领用"):
        assert name in assistant
    technician = client_for(process_app, "technician").get("/start").get_data(as_text=True)
    assert "危险品领用" in technician and "所有员工均可发起" in technician  # no starters: any staff
    assert "客户报修" not in technician and "客户投诉处理" not in technician


def test_start_form_shows_the_process_fields(process_app: Flask) -> None:
    html = client_for(process_app, "cs_assistant").get("/start/repair_dispatch").get_data(as_text=True)
    assert "发起：客户报修" in html
    for label in ("报修渠道", "报修人", "联系电话", "单元", "报修内容", "服务类别", "有偿服务"):
        assert label in html
    assert 'name="paid" value="false" checked' in html  # the form's default


def test_a_process_my_roles_may_not_start_is_refused(process_app: Flask) -> None:
    client = client_for(process_app, "technician")
    assert client.get("/start/repair_dispatch").status_code == 403
    assert client.post("/start/repair_dispatch", data=REPAIR).status_code == 403
    assert client.get("/start/no_such_process").status_code == 404


def test_start_errors_come_back_next_to_the_fields_with_input_kept(process_app: Flask) -> None:
    client = client_for(process_app, "cs_assistant")
    response = client.post("/start/repair_dispatch", data={**REPAIR, "reporter_name": "", "unit": "12F"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#field-reporter_name"' in html and "此项为必填" in html
    assert 'name="unit" type="text" value="12F"' in html and "卫生间漏水</textarea>" in html


def test_starting_goes_straight_to_the_first_task_when_it_is_mine(process_app: Flask) -> None:
    client = client_for(process_app, "cs_assistant")
    response = client.post("/start/repair_dispatch", data={**REPAIR, "category": "consultation"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/tasks/")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "案件 000001 已登记，下一步由您办理" in html and "<h1>指导说明</h1>" in html


def test_starting_confirms_the_case_number_when_the_next_step_is_someone_elses(process_app: Flask) -> None:
    client = client_for(process_app, "cs_assistant")
    response = client.post("/start/repair_dispatch", data=REPAIR)
    assert response.status_code == 302 and response.headers["Location"] == "/start/started/1"
    html = client.get("/start/started/1").get_data(as_text=True)
    assert "案件编号 <strong>000001</strong>" in html
    assert "<strong>派工</strong> — 由 工程部调度 办理" in html
    assert 'href="/records/1"' in html


def test_confirmation_of_someone_elses_case_is_refused(process_app: Flask) -> None:
    client_for(process_app, "cs_assistant").post("/start/repair_dispatch", data=REPAIR)
    assert client_for(process_app, "housekeeping").get("/start/started/1").status_code == 403


def test_the_contact_phone_is_a_tel_input_and_letters_are_refused_on_it(process_app: Flask) -> None:
    client = client_for(process_app, "cs_assistant")
    html = client.get("/start/repair_dispatch").get_data(as_text=True)
    assert 'name="contact_phone" type="tel" inputmode="tel"' in html
    response = client.post("/start/repair_dispatch", data={**REPAIR, "contact_phone": "abc"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'href="#field-contact_phone"' in html and "请输入电话号码" in html
    assert 'name="contact_phone" type="tel" inputmode="tel" autocomplete="tel" value="abc"' in html
