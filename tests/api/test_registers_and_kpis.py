"""Registers (hazardous goods, sealed keys) and the KPI figures."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask

from department import services
from tests.api.conftest import Api, error_of
from tests.api.test_key_registers import seal
from tests.conftest import T0
from webui.extensions import db


def test_foreman_records_a_stock_in_and_the_register_shows_it(api: Api) -> None:
    line = api.ok("POST", "/registers/hazardous-goods/stock-in", "cs_foreman",
                  {"item": "alcohol", "quantity": 5.5, "note": "仓库领入"}, status=201)
    assert line["kind"] == "stock_in" and line["balance_after"] == 5.5 and line["actor"] == "cs_foreman"
    api.ok("POST", "/registers/hazardous-goods/stock-in", "cs_manager", {"item": "thinner", "quantity": 2},
           status=201)
    register = api.ok("GET", "/registers/hazardous-goods", "cleaning_foreman")
    assert register["total"] == 2 and register["items"][0]["item"] == "thinner"  # newest first
    balances = {b["item"]: b["balance"] for b in register["balances"]}
    assert balances["alcohol"] == 5.5 and balances["thinner"] == 2 and balances["rodenticide"] == 0
    only = api.ok("GET", "/registers/hazardous-goods?item=alcohol", "cs_foreman")
    assert only["total"] == 1


def test_the_register_exports_as_csv(api: Api) -> None:
    api.ok("POST", "/registers/hazardous-goods/stock-in", "cs_foreman", {"item": "alcohol", "quantity": 3},
           status=201)
    response = api.get("/registers/hazardous-goods?format=csv", "cs_foreman")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 2 and rows[1][4] == "3"


def test_stock_in_below_foreman_is_403(api: Api) -> None:
    response = api.post("/registers/hazardous-goods/stock-in", "cleaner", {"item": "alcohol", "quantity": 1})
    assert response.status_code == 403
    assert api.post("/registers/hazardous-goods/stock-in", "admin",
                    {"item": "alcohol", "quantity": 1}).status_code == 403


@pytest.mark.parametrize("body", [{"item": "gold", "quantity": 1}, {"item": "alcohol", "quantity": 0},
                                  {"item": "alcohol", "quantity": -1}, {"item": "alcohol", "quantity": 1e300},
                                  {"item": "alcohol", "quantity": "lots"}, {"item": "alcohol"}])
def test_bad_stock_in_is_422_and_changes_nothing(api: Api, body: dict[str, object]) -> None:
    response = api.post("/registers/hazardous-goods/stock-in", "cs_foreman", body)
    assert response.status_code == 422
    assert set(error_of(response)["fields"]) <= {"item", "quantity"}
    assert api.ok("GET", "/registers/hazardous-goods", "cs_foreman")["total"] == 0


def test_registers_are_not_for_every_role(api: Api) -> None:
    assert api.get("/registers/hazardous-goods", "technician").status_code == 403
    assert api.get("/registers/sealed-keys", "cleaner").status_code == 403


def test_sealed_key_log_lists_archived_uses(api: Api, app: Flask) -> None:
    assert api.ok("GET", "/registers/sealed-keys", "cs_manager")["total"] == 0
    seal(api, "8F-801", "S-0041")
    data = {"unit": "8F-801", "reason": "forgot_key", "customer_reachable": True, "customer_can_attend": True,
            "application_reference": "SQ-1", "description": "忘带钥匙",
            "applicant_name": "李女士", "applicant_company": "某公司"}
    started = api.ok("POST", "/process-instances", "cs_assistant",
                     {"process_key": "sealed_key_usage", "data": data}, status=201)
    record = {**started["data"], "new_seal_number": "S-0042", "used_by": "cs_assistant"}
    with app.app_context():  # the archive step's service call, without walking the whole process
        services.sealed_key_archive(db.session, started["id"], record, "cs_manager", T0)
        db.session.commit()
    log = api.ok("GET", "/registers/sealed-keys", "cs_manager")
    assert log["total"] == 1
    use = log["items"][0]
    assert (use["unit"], use["reason"], use["new_seal_number"]) == ("8F-801", "forgot_key", "S-0042")
    assert use["archived_by"] == "cs_manager" and use["archived_at"].endswith("Z")


def test_kpis_for_a_period(api: Api) -> None:
    report = api.ok("GET", "/kpis?from=2026-11-01&to=2026-11-30", "cs_manager")
    assert [k["key"] for k in report["kpis"]] == ["repair_timeliness", "repair_callback_rate",
                                                  "valid_complaint_timeliness", "callback_face_to_face",
                                                  "callback_satisfaction",
                                                  "satisfaction", "survey_handout_rate", "survey_return_rate",
                                                  "customer_visits", "anomalies_closed"]
    # Days are local (Asia/Shanghai): 1 November 00:00 there is 31 October 16:00 UTC.
    assert report["from"].startswith("2026-10-31T16:00") and report["to"].startswith("2026-11-30T16:00")
    assert api.ok("GET", "/kpis", "admin")["kpis"]


@pytest.mark.parametrize("query", ["from=2026-11-30&to=2026-11-01", "from=yesterday", "to=2026-02-30",
                                   "from=0001-01-01", "to=9999-12-31"])
def test_bad_or_inverted_kpi_periods_are_422(api: Api, query: str) -> None:
    response = api.get(f"/kpis?{query}", "admin")
    assert response.status_code == 422
    assert error_of(response)["fields"]


def test_kpis_are_for_admins_and_managers(api: Api) -> None:
    assert api.get("/kpis", "cs_assistant").status_code == 403
