"""The key register on the API: status per key (`?unit=`), the 鑰匙借用登記表 as JSON and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.api.conftest import Api, error_of


def complete(api: Api, instance_id: int, name: str, user: str, data: dict[str, Any]) -> None:
    """Complete an instance's open task as a user."""
    task = api.open_task(instance_id, name)
    api.ok("POST", f"/tasks/{task['id']}/complete", user, {"data": data})


def seal(api: Api, unit: str, seal_number: str) -> None:
    """Move a unit in through key_custody so its key is sealed."""
    started = api.ok("POST", "/process-instances", "cs_assistant", {"process_key": "key_custody", "data": {
        "unit": unit, "movement": "move_in", "customer_name": "陳先生"}}, status=201)
    complete(api, started["id"], "handover_keys", "cs_assistant", {
        "handover_form_number": "JJ-1", "unit_inspected": True, "keys_handed_over": 2, "keys_in_custody": 1,
        "custody_agreement_reference": "TG-1", "customer_signature": "陳先生"})
    complete(api, started["id"], "seal_keys", "cs_assistant", {"seal_number": seal_number,
                                                               "witness": "cs_assistant2"})
    complete(api, started["id"], "manager_sign", "cs_manager", {})


def lend_and_return(api: Api, key_id: str) -> None:
    """Take a vacant unit's key in, lend it for a viewing and have it back."""
    intake = api.ok("POST", "/process-instances", "cs_assistant", {"process_key": "key_custody", "data": {
        "unit": key_id, "movement": "intake", "key_kind": "unit", "customer_name": "發展商"}}, status=201)
    complete(api, intake["id"], "receive_keys", "cs_assistant", {"key_count": 2, "keys_labelled": True})
    loan = api.ok("POST", "/process-instances", "housekeeping", {"process_key": "key_loan", "data": {
        "key_kind": "unit", "key_id": key_id, "purpose": "viewing", "purpose_detail": "=帶客看房",
        "borrower_department": "leasing"}}, status=201)
    complete(api, loan["id"], "approve_loan", "project_manager", {"approved": True})
    complete(api, loan["id"], "issue_key", "cs_assistant", {})
    complete(api, loan["id"], "return_key", "cs_assistant2", {"power_off": True, "windows_closed": True,
                                                               "unit_locked": True})


def test_key_register_lists_the_status_per_unit(api: Api) -> None:
    seal(api, "15F-1501", "F-000123")
    seal(api, "16F-1601", "F-000200")
    register = api.ok("GET", "/registers/keys", "cs_assistant")
    assert [(k["key_id"], k["status"], k["seal_number"]) for k in register["items"]] == [
        ("15F-1501", "sealed", "F-000123"), ("16F-1601", "sealed", "F-000200")]
    one = api.ok("GET", "/registers/keys?unit=16F-1601", "security_guard")
    assert one["total"] == 1 and one["items"][0]["key_id"] == "16F-1601"


def test_key_loans_export_in_the_paper_form_columns(api: Api) -> None:
    lend_and_return(api, "12F-1203")
    loans = api.ok("GET", "/registers/key-loans", "cs_manager")
    assert loans["total"] == 1
    loan = loans["items"][0]
    assert (loan["key_id"], loan["borrower"], loan["countersigned_by"]) == ("12F-1203", "housekeeping",
                                                                              "cs_assistant2")
    response = api.get("/registers/key-loans?format=csv", "cs_assistant")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["日期", "钥匙名称(编号)", "用途", "借用人", "交还时间", "保管人签收"]
    assert rows[1][1:4] == ["12F-1203", "看房：=帶客看房", "housekeeping"]
    assert rows[1][4] and rows[1][5] == "cs_assistant2"


def test_key_registers_are_for_keepers_and_managers_only(api: Api) -> None:
    assert api.get("/registers/keys", "cleaner").status_code == 403
    assert api.get("/registers/key-loans", "technician").status_code == 403
    response = api.get("/registers/key-loans?format=xml", "cs_manager")
    assert response.status_code == 422 and "format" in error_of(response)["fields"]


def test_sealed_key_use_of_an_unsealed_unit_is_422_naming_unit(api: Api) -> None:
    response = api.post("/process-instances", "cs_assistant", {"process_key": "sealed_key_usage", "data": {
        "unit": "9F-901", "reason": "emergency", "customer_reachable": False, "customer_can_attend": False,
        "description": "漏水", "applicant_name": "李", "applicant_company": "某公司"}})
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"unit"}
