"""Registers of issue 12 as pages: complaints, call/visit log, repair work orders, charge-backs per team."""

from __future__ import annotations

import re

from flask import Flask

from engine.store.models import ProcessInstance
from webui.extensions import db

from .conftest import start_case
from .test_instances import repair, signed_in

COMPLAINT = {"channel": "phone", "complainant": "林女士", "contact_phone": "13900000000", "unit": "8F-0802",
             "content": "電梯停運", "severity": "general"}


def case_links(page: str) -> list[str]:
    """Return the case numbers that link to a case page."""
    return re.findall(r'<a href="/instances/\d+">(\d{6})</a>', page)


def test_complaint_register_page_lists_each_complaint_linked_to_its_case(web: Flask) -> None:
    case = start_case(web, "complaint_handling", COMPLAINT, "cs_assistant")
    client, _ = signed_in(web, "cs_assistant", lang="en")
    page = client.get("/registers/cases/complaints").get_data(as_text=True)
    assert "Complaint register" in page and "林女士" in page and "投诉内容" in page
    assert case_links(page) == [f"{case:06d}"] and f'href="/instances/{case}"' in page
    assert 'href="/registers/cases/complaints.csv"' in page
    download = client.get("/registers/cases/complaints.csv")
    assert download.mimetype == "text/csv" and "林女士" in download.get_data(as_text=True)
    assert signed_in(web, "technician")[0].get("/registers/cases/complaints").status_code == 403
    assert signed_in(web, "technician")[0].get("/registers/cases/complaints.csv").status_code == 403


def test_call_visit_log_page_holds_repairs_and_complaints(web: Flask) -> None:
    first = start_case(web, "repair_dispatch", repair("A-1"), "cs_assistant")
    second = start_case(web, "complaint_handling", COMPLAINT, "cs_assistant")
    client, _ = signed_in(web, "cs_manager")
    page = client.get("/registers/cases/call-visit-log").get_data(as_text=True)
    assert "来电来访处理记录表" in page and "导出 CSV" in page  # Chinese by default
    assert case_links(page) == [f"{first:06d}", f"{second:06d}"]
    assert 'href="/registers/cases/call-visit-log.csv"' in page
    assert client.get("/registers/cases/call-visit-log.csv").status_code == 200
    assert signed_in(web, "cleaner")[0].get("/registers/cases/call-visit-log").status_code == 403


def test_repair_work_order_page_shows_every_order_with_its_case_number(web: Flask) -> None:
    first = start_case(web, "repair_dispatch", repair("A-1"), "cs_assistant")
    second = start_case(web, "repair_dispatch", repair("B-2"), "cs_assistant")
    client, _ = signed_in(web, "cs_supervisor", lang="en")
    page = client.get("/registers/cases/repair-work-orders").get_data(as_text=True)
    assert "Repair work orders" in page and 'aria-current="page">Repair work orders' in page
    assert case_links(page) == [f"{first:06d}", f"{second:06d}"]
    assert 'href="/registers/cases/repair-work-orders.csv"' in page
    csv_text = client.get("/registers/cases/repair-work-orders.csv").get_data(as_text=True)
    assert f"{first:06d}" in csv_text and f"{second:06d}" in csv_text
    assert client.get("/registers/cases/no-such-register").status_code == 404
    assert signed_in(web, "technician")[0].get("/registers/cases/repair-work-orders").status_code == 403


def test_charge_back_page_shows_each_charge_back_and_the_totals_per_team(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair("A-1"), "cs_assistant")
    with web.app_context():  # the approval's outcome as the case holds it (the process is tested elsewhere)
        inst = db.session.get(ProcessInstance, case)
        assert inst is not None
        inst.data = {**(inst.data or {}), "substitute_approved": True,
                     "responsible_subcontractor": "綠化二班", "estimated_cost": 120}
        db.session.commit()
    client, _ = signed_in(web, "project_manager", lang="en")
    page = client.get("/registers/charge-backs").get_data(as_text=True)
    assert "Totals per team" in page and "綠化二班" in page and "120.00" in page
    assert case_links(page) == [f"{case:06d}"]
    assert 'href="/registers/charge-backs.csv"' in page
    assert "綠化二班" in client.get("/registers/charge-backs.csv").get_data(as_text=True)
    # The desk reads the case registers but not what is charged to the teams.
    assistant = signed_in(web, "cs_assistant")[0]
    assert assistant.get("/registers/cases/complaints").status_code == 200
    assert assistant.get("/registers/charge-backs").status_code == 403
    assert assistant.get("/registers/charge-backs.csv").status_code == 403
