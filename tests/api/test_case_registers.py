"""Case registers of seed 000 §5: the complaint form, the call/visit log and the repair work orders."""

from __future__ import annotations

import csv
import io

from department.case_registers import CALL_VISIT_COLUMNS, COMPLAINT_COLUMNS, WORK_ORDER_COLUMNS
from tests.api.conftest import Api

COMPLAINT = {"channel": "phone", "complainant": "林女士", "contact_phone": "13900000000", "unit": "8F-0802",
             "content": "=HYPERLINK(\"x\") 電梯停運", "severity": "general"}


def csv_rows(api: Api, path: str) -> list[list[str]]:
    response = api.get(path, "cs_manager")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_complaint_register_lists_each_complaint_in_the_paper_forms_columns(api: Api) -> None:
    started = api.ok("POST", "/process-instances", "cs_assistant",
                     {"process_key": "complaint_handling", "data": COMPLAINT}, status=201)
    register = api.ok("GET", "/registers/complaints", "cs_assistant")
    assert register["total"] == 1
    row = register["items"][0]
    assert row["case"] == f"{started['id']:06d}"
    assert (row["complainant"], row["severity"], row["receiver"], row["status"]) == (
        "林女士", "一般", "cs_assistant", "处理中")
    assert row["handling_due"]  # 24 working hours from receipt
    assert [c[1] for c in register["columns"]] == [h for _k, h in COMPLAINT_COLUMNS]
    rows = csv_rows(api, "/registers/complaints?format=csv")
    assert rows[0] == [h for _k, h in COMPLAINT_COLUMNS] and len(rows) == 2
    assert rows[1][COMPLAINT_COLUMNS.index(("content", "投诉内容"))].startswith("'=")  # no formula runs


def test_every_repair_work_order_carries_its_case_number(api: Api) -> None:
    first, second = api.start_repair(), api.start_repair()
    register = api.ok("GET", "/registers/repair-work-orders", "cs_supervisor")
    assert [r["case"] for r in register["items"]] == [f"{first['id']:06d}", f"{second['id']:06d}"]
    rows = csv_rows(api, "/registers/repair-work-orders?format=csv")
    assert rows[0] == [h for _k, h in WORK_ORDER_COLUMNS]
    assert [r[0] for r in rows[1:]] == [f"{first['id']:06d}", f"{second['id']:06d}"]


def test_call_visit_log_holds_repair_requests_and_complaints(api: Api) -> None:
    api.start_repair()
    api.ok("POST", "/process-instances", "cs_assistant",
           {"process_key": "complaint_handling", "data": COMPLAINT}, status=201)
    log = api.ok("GET", "/registers/call-visit-log", "cs_manager")
    assert sorted(r["kind"].split("/")[0] for r in log["items"]) == ["投诉", "报修"]
    assert csv_rows(api, "/registers/call-visit-log?format=csv")[0] == [h for _k, h in CALL_VISIT_COLUMNS]


def test_case_registers_are_not_for_every_role(api: Api) -> None:
    for path in ("/registers/complaints", "/registers/call-visit-log", "/registers/repair-work-orders"):
        assert api.get(path, "technician").status_code == 403, path


def test_charge_back_register_answers_rows_totals_and_csv_to_its_readers(api: Api) -> None:
    register = api.ok("GET", "/registers/charge-backs", "project_manager")
    assert (register["items"], register["totals"]) == ([], [])
    assert [c[1] for c in register["columns"]][:2] == ["流程单号", "被代维班组/合同编号"]
    assert csv_rows(api, "/registers/charge-backs?format=csv")[0][:2] == ["流程单号", "被代维班组/合同编号"]
    assert api.get("/registers/charge-backs", "cs_assistant").status_code == 403
