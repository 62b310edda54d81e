"""Paper records: the work order, complaint record, sealed-key record and hazardous-goods register."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from department import services
from engine.runtime import Actor
from engine.users import get_user
from tests.conftest import T0
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import REPAIR, open_task, start_case
from .test_inbox import client_for
from .test_key_pages import seal_through_custody

CSS = Path(__file__).resolve().parents[2] / "webui" / "static" / "css" / "inbox.css"


def complete(app: Flask, instance_id: int, name: str, username: str, data: dict[str, object]) -> None:
    """Complete an instance's open task through the engine as a demo user."""
    task_id = open_task(app, instance_id, name)
    with app.app_context():
        user = get_user(db.session, username)
        assert user is not None
        get_engine().complete(db.session, task_id, data, Actor(username, user.role_ids))
        db.session.commit()


def finished_repair(app: Flask) -> int:
    """Run a paid repair to the end and return its instance id."""
    case = start_case(app, "repair_dispatch", {**REPAIR, "paid": "true"}, "cs_assistant")
    complete(app, case, "dispatch", "engineering_dispatcher",
             {"trade": "plumbing", "technician": "technician"})
    complete(app, case, "arrive_on_site", "technician", {})
    complete(app, case, "repair", "technician",
             {"result": "更换三角阀", "fixed": "true", "charge_amount": "80"})
    complete(app, case, "foreman_confirm", "area_foreman", {"confirmed": "true"})
    complete(app, case, "callback", "cs_assistant2", {"satisfied": "true", "callback_method": "phone"})
    return case


def test_work_order_carries_the_case_and_signature_lines(process_app: Flask) -> None:
    case = finished_repair(process_app)
    html = client_for(process_app, "cs_assistant").get(f"/records/{case}").get_data(as_text=True)
    assert '<h1 id="sheet-title" class="sheet__title">服务工作单</h1>' in html
    for text in ("<dd>000001</dd>", "王先生", "12F-1203", "卫生间漏水", "水工", "维修技工（technician）",
                 "<th scope=\"row\">维修结果</th><td colspan=\"3\">更换三角阀</td>", "<td>80</td>",
                 "电话回访", "客服助理2（cs_assistant2）"):
        assert text in html, text
    for signer in ("维修人 / 处理人", "客户确认", "区域领班", "客服助理"):
        assert f'<span class="signature__label">{signer}</span>' in html
    assert html.count('class="signature__line"') >= 4
    assert 'data-print' in html and "css/inbox.css" in html


def test_print_stylesheet_lays_the_sheet_out_on_a4(process_app: Flask) -> None:
    css = CSS.read_text(encoding="utf-8")
    assert "@page { size: A4 portrait;" in css and ".record-toolbar" in css.split("@media print")[-1]


def test_complaint_record_prints_the_investigation_and_callback(process_app: Flask) -> None:
    case = start_case(process_app, "complaint_handling", {
        "channel": "visit", "complainant": "李女士", "contact_phone": "13900002222", "unit": "5F-502",
        "content": "空调噪音大", "severity": "general"}, "cs_assistant")
    complete(process_app, case, "forward", "cs_assistant", {"department": "engineering"})
    complete(process_app, case, "investigate", "engineering_dispatcher",
             {"valid": "true", "findings": "风机轴承磨损", "corrective_action": "更换轴承"})
    complete(process_app, case, "confirm_validity", "cs_supervisor", {"valid": "true"})
    complete(process_app, case, "inform_customer", "cs_assistant", {"notification_record": "已电话告知"})
    complete(process_app, case, "callback", "cs_manager",
             {"satisfied": "true", "callback_method": "phone", "signed_by": "李女士"})
    html = client_for(process_app, "cs_manager").get(f"/records/{case}").get_data(as_text=True)
    assert "投诉处理记录表" in html
    for text in ("李女士", "空调噪音大", "一般", "风机轴承磨损", "更换轴承", "已电话告知", "首问负责人",
                 "客服助理（cs_assistant）"):
        assert text in html, text
    assert '<span class="signature__label">投诉人签字确认</span>' in html
    assert "项目经理</span>" not in html  # only major complaints need the project manager's signature


def test_sealed_key_record_names_the_witnesses_and_has_their_signature_lines(process_app: Flask) -> None:
    seal_through_custody(process_app, "20F-2001", "F-2001")
    case = start_case(process_app, "sealed_key_usage", {
        "unit": "20F-2001", "reason": "emergency", "customer_reachable": "false",
        "customer_can_attend": "false", "description": "室内漏水",
        "applicant_name": "张经理", "applicant_company": "华丰贸易"}, "cs_assistant")
    complete(process_app, case, "manager_request", "cs_manager", {"request_note": "漏水紧急，客户联系不上"})
    complete(process_app, case, "gm_approval", "general_manager", {"approved": "true"})
    complete(process_app, case, "open_unit", "cs_assistant", {
        "seal_number_before": "F-2001",
        "assistant_1": "cs_assistant", "assistant_2": "cs_assistant2", "security_guard": "security_guard",
        "opened_at": "2026-11-23T10:20", "closed_at": "2026-11-23T10:50", "actions_taken": "关闭水阀"})
    html = client_for(process_app, "cs_manager").get(f"/records/{case}").get_data(as_text=True)
    assert "封存钥匙使用记录" in html and "20F-2001" in html and "华丰贸易" in html
    for person in ("客服助理（cs_assistant）", "客服助理2（cs_assistant2）", "保安员（security_guard）",
                   "总经理（general_manager）"):
        assert person in html, person
    assert "2026-11-23 10:20" in html and "关闭水阀" in html
    for signer in ("客服助理（在场）", "保安员（在场）", "总经理", "客服部经理（存档）"):
        assert f'<span class="signature__label">{signer}</span>' in html
    assert html.count("客服助理（在场）</span>") == 2


def test_hazardous_goods_register_lists_every_line_with_its_balance(process_app: Flask) -> None:
    with process_app.app_context():
        services.stock_in(db.session, "alcohol", 10, "仓库入库", "cs_foreman", T0)
        db.session.commit()
    case = start_case(process_app, "hazardous_goods_issuance",
                      {"item": "alcohol", "quantity": "2", "purpose": "消毒", "location": "大堂"}, "cleaner")
    complete(process_app, case, "approve", "cs_foreman", {"approved": "true", "approved_quantity": "2"})
    complete(process_app, case, "issue", "cs_foreman",
             {"key_holder": "cleaning_foreman", "issued_quantity": "2"})
    complete(process_app, case, "open_cabinet", "cleaning_foreman", {"cabinet_opened": "true"})
    complete(process_app, case, "use_and_report", "cleaner", {"used_quantity": "1.5", "anomaly": "false"})
    complete(process_app, case, "return_unused", "cleaning_foreman", {"returned_quantity": "0.5"})
    register = client_for(process_app, "cleaning_foreman").get("/records/hazardous-goods?item=alcohol")
    html = register.get_data(as_text=True)
    assert register.status_code == 200 and "危险品使用登记表" in html and "结存：8.5" in html
    for text in ("入库", "领用", "退回", "仓库入库", "<td>保洁领班</td>", "<td>保洁员</td>",
                 '<td class="num">10</td>', '<td class="num">8</td>', '<td class="num">8.5</td>', "000001"):
        assert text in html, text
    assert "鼠药" not in html.split("sheet__rule")[-1]  # one item chosen
    issue_record = client_for(process_app, "cleaner").get(f"/records/{case}").get_data(as_text=True)
    assert "危险品领用记录" in issue_record and "本案登记记录" in issue_record
    assert "仓库入库" not in issue_record  # only this case's lines


def test_register_is_refused_to_staff_who_do_not_keep_it(process_app: Flask) -> None:
    assert client_for(process_app, "cleaner").get("/records/hazardous-goods").status_code == 403
    assert client_for(process_app, "cs_supervisor").get("/records/hazardous-goods").status_code == 200
    assert client_for(process_app, "cs_manager").get("/records/hazardous-goods?item=gold").status_code == 404


def test_record_is_refused_to_who_may_not_see_the_case(process_app: Flask) -> None:
    case = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    assert client_for(process_app, "housekeeping").get(f"/records/{case}").status_code == 403
    assert client_for(process_app, "cs_assistant").get("/records/999").status_code == 404


def test_a_quantity_input_shows_the_unit_of_the_cases_item(process_app: Flask) -> None:
    case = start_case(process_app, "hazardous_goods_issuance",
                      {"item": "thinner", "quantity": "2", "purpose": "除胶", "location": "车库"}, "cleaner")
    page = client_for(process_app, "cs_foreman").get(f"/tasks/{open_task(process_app, case, 'approve')}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<span class="field__unit">kg</span>' in html
    start = client_for(process_app, "cleaner").get("/start/hazardous_goods_issuance").get_data(as_text=True)
    assert "field__unit" not in start  # no item chosen yet: no unit to show


def test_the_case_page_shows_a_quantity_with_its_unit(process_app: Flask) -> None:
    case = start_case(process_app, "hazardous_goods_issuance",
                      {"item": "alcohol", "quantity": "2", "purpose": "消毒", "location": "大堂"}, "cleaner")
    html = client_for(process_app, "cs_foreman").get(f"/instances/{case}").get_data(as_text=True)
    assert "2 瓶" in html
