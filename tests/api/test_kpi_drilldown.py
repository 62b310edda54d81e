"""The cases behind a KPI figure (late first, by person, CSV) and the month-by-month trend."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Flask

from tests.api.conftest import Api
from tests.conftest import T0
from webui.engine_ext import get_engine

PERIOD = "from=2026-11-01&to=2026-11-30"


def test_repair_timeliness_lists_late_requests_first_by_person_and_as_csv(api: Api, app: Flask) -> None:
    on_time, late = api.start_repair(), api.start_repair()
    for case in (on_time, late):  # dispatched; nobody on site yet
        dispatch = api.open_task(case["id"], "dispatch")
        api.ok("POST", f"/tasks/{dispatch['id']}/claim", "engineering_dispatcher", {})
    with app.app_context():
        get_engine().clock = lambda: T0 + timedelta(days=2)  # both deadlines (T0 + 15 min) have passed
    cases = api.ok("GET", f"/kpis/cases?kpi=repair_timeliness&{PERIOD}", "cs_manager")
    assert [c["instance_id"] for c in cases["items"]] == sorted([on_time["id"], late["id"]])
    assert all(c["on_time"] is False for c in cases["items"])  # nobody arrived: both missed
    assert cases["items"][0]["version"] == "repair_dispatch v1"
    nobody = api.ok("GET", f"/kpis/cases?kpi=repair_timeliness&{PERIOD}&role=nobody", "cs_manager")
    assert nobody["items"] == []
    response = api.get(f"/kpis/cases?kpi=repair_timeliness&{PERIOD}&format=csv", "cs_manager")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "流程单号" and rows[1][0] == f"{on_time['id']:06d}" and rows[1][4] == "否"


def test_unknown_kpi_is_422_and_cases_are_for_managers(api: Api) -> None:
    assert api.get(f"/kpis/cases?kpi=no_such_kpi&{PERIOD}", "cs_manager").status_code == 422
    assert api.get(f"/kpis/cases?kpi=repair_timeliness&{PERIOD}", "cs_assistant").status_code == 403


def test_trend_gives_each_kpi_month_by_month(api: Api) -> None:
    trend = api.ok("GET", "/kpis/trend?months=3&to=2026-11-15", "cs_manager")
    assert [m["month"] for m in trend["months"]] == ["2026-09", "2026-10", "2026-11"]
    assert set(trend["months"][-1]["kpis"]) == {"repair_timeliness", "repair_callback_rate",
                                                 "valid_complaint_timeliness", "callback_face_to_face",
                                                 "callback_satisfaction", "satisfaction",
                                                 "survey_handout_rate", "survey_return_rate",
                                                 "customer_visits", "anomalies_closed"}
    assert api.get("/kpis/trend?months=0", "cs_manager").status_code == 422
