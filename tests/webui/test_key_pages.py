"""The key register's pages: status per key with its history, loans, and the two print views."""

from __future__ import annotations

from flask import Flask

from .conftest import start_case
from .test_instances import complete, signed_in


def seal_through_custody(app: Flask, unit: str, seal: str) -> int:
    """Move a unit in through key_custody so its key is sealed under seal; return the case."""
    moved_in = start_case(app, "key_custody", {"unit": unit, "movement": "move_in",
                                               "customer_name": "陳先生"}, "cs_assistant")
    complete(app, moved_in, "handover_keys", {
        "handover_form_number": "JJ-0815", "unit_inspected": True, "keys_handed_over": 3,
        "keys_in_custody": 1,
        "custody_agreement_reference": "TG-0815", "customer_signature": "陳先生"}, "cs_assistant")
    complete(app, moved_in, "seal_keys", {"seal_number": seal, "witness": "cs_assistant2"}, "cs_assistant")
    complete(app, moved_in, "manager_sign", {}, "cs_manager")
    return moved_in


def sealed_and_lent(app: Flask) -> int:
    """Seal unit 15F-1501 through key_custody and lend vacant 12F-1203's key; return the move-in case."""
    moved_in = seal_through_custody(app, "15F-1501", "F-000123")
    intake = start_case(app, "key_custody", {"unit": "12F-1203", "movement": "intake", "key_kind": "unit",
                                             "customer_name": "發展商"}, "cs_assistant")
    complete(app, intake, "receive_keys", {"key_count": 2, "keys_labelled": True}, "cs_assistant")
    loan = start_case(app, "key_loan", {"key_kind": "unit", "key_id": "12F-1203", "purpose": "viewing",
                                        "purpose_detail": "帶客看房", "borrower_department": "leasing"},
                      "housekeeping")
    complete(app, loan, "approve_loan", {"approved": True}, "project_manager")
    complete(app, loan, "issue_key", {}, "cs_assistant")
    return moved_in


def test_key_register_page_shows_sealed_units_history_and_loans(web: Flask) -> None:
    sealed_and_lent(web)
    client, _token = signed_in(web, "cs_assistant")
    page = client.get("/registers/keys").get_data(as_text=True)
    assert "15F-1501" in page and "F-000123" in page and "已封存" in page
    assert "12F-1203" in page and "借出" in page and "帶客看房" in page
    one = client.get("/registers/keys?unit=15F-1501").get_data(as_text=True)
    register_part = one.split("loans-title")[0]
    assert "交接入库" in register_part and "封存" in register_part and "12F-1203" not in register_part


def test_print_views_of_the_loan_register_and_the_handover_form(web: Flask) -> None:
    moved_in = sealed_and_lent(web)
    client, _token = signed_in(web, "cs_manager", lang="en")
    loans = client.get("/records/key-loans").get_data(as_text=True)
    assert "Key loan register" in loans and "Keeper&#39;s countersignature" in loans and "12F-1203" in loans
    form = client.get(f"/records/key-handovers?case={moved_in}")
    assert form.status_code == 200
    text = form.get_data(as_text=True)
    assert "Unit key handover form" in text and "JJ-0815" in text and "TG-0815" in text and "F-000123" in text
    assert client.get("/records/key-handovers?unit=99F-9999").status_code == 404
    assert "JJ-0815" in client.get("/records/key-handovers").get_data(as_text=True)


def test_key_pages_are_not_for_every_role(web: Flask) -> None:
    client, _token = signed_in(web, "cleaner")
    assert client.get("/registers/keys").status_code == 403
    assert client.get("/records/key-loans").status_code == 403
