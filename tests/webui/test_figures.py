"""Figures: the four KPIs over a period, computed from a constructed case history."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

from flask import Flask

from engine.runtime import Actor
from engine.users import get_user
from tests.conftest import T0
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import open_task, start_case
from .test_instances import DISPATCH, repair, signed_in


def step(app: Flask, case: int, name: str, data: dict[str, object], username: str, minutes: int) -> None:
    """Complete a task at T0 + minutes."""
    task_id = open_task(app, case, name)
    with app.app_context():
        user = get_user(db.session, username)
        assert user is not None
        get_engine().complete(db.session, task_id, data, Actor(username, user.role_ids),
                              now=T0 + timedelta(minutes=minutes))
        db.session.commit()


def repair_history(app: Flask) -> None:
    """Build two repairs: one on site in 10 minutes and called back satisfied; one on site after 20."""
    on_time = start_case(app, "repair_dispatch", repair("A-1"), "cs_assistant")
    late = start_case(app, "repair_dispatch", repair("B-2"), "cs_assistant")
    for case in (on_time, late):
        step(app, case, "dispatch", DISPATCH, "engineering_dispatcher", 0)
    step(app, on_time, "arrive_on_site", {}, "technician", 10)
    step(app, late, "arrive_on_site", {}, "technician", 20)
    step(app, on_time, "repair", {"result": "换了阀门", "fixed": True}, "technician", 40)
    step(app, on_time, "foreman_confirm", {"confirmed": True}, "area_foreman", 50)
    step(app, on_time, "callback", {"satisfied": True, "callback_method": "phone"}, "cs_assistant", 90)
    with app.app_context():
        get_engine().clock = lambda: T0 + timedelta(days=2)  # every deadline above has passed


def chart_data(page: str) -> dict[str, Any]:
    """Return the JSON the charts are drawn from."""
    match = re.search(r'id="figures-data">(.*?)</script>', page, re.S)
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def kpi_card(page: str, key: str) -> str:
    """Return the HTML of one KPI's summary card."""
    match = re.search(rf'id="kpi-{key}">(.*?)</article>', page, re.S)
    assert match, key
    return match.group(1)


def test_this_months_figures_from_the_history(web: Flask) -> None:
    repair_history(web)
    client, _ = signed_in(web, "cs_manager", lang="en")
    page = client.get("/figures").get_data(as_text=True)  # default period: November 2026
    assert 'value="2026-11-01"' in page and 'value="2026-11-30"' in page
    timeliness = kpi_card(page, "repair_timeliness")
    assert "50.0%" in timeliness and "1 of 2" in timeliness and "target missed" in timeliness
    callback = kpi_card(page, "repair_callback_rate")
    assert "100.0%" in callback and "target met" in callback
    assert "100.0%" in kpi_card(page, "callback_satisfaction")
    assert "0.0%" in kpi_card(page, "callback_face_to_face")  # the one callback was by phone
    assert "no cases" in kpi_card(page, "valid_complaint_timeliness")
    assert re.search(r'href="/instances/\d+">#\d+</a>', page)  # the missed arrival links to its case
    data = chart_data(page)
    assert [k["percent"] for k in data["overview"]][:5] == [50.0, 100.0, None, 0.0, 100.0]
    charts = {c["id"]: c for c in data["charts"]}
    assert charts["chart-repair_timeliness-role"]["rows"][0]["label"] == "Maintenance technician"
    assert "chart-callback_satisfaction-process" in charts
    assert "chart.umd.min.js" in page and "<script>" not in page


def test_a_period_without_cases_shows_no_figures_rather_than_zero(web: Flask) -> None:
    repair_history(web)
    client, _ = signed_in(web, "admin", lang="en")
    page = client.get("/figures?from=2026-10-01&to=2026-10-31").get_data(as_text=True)
    assert page.count("no cases") >= 4 and "50.0%" not in page


def test_a_bad_period_is_named(web: Flask) -> None:
    client, _ = signed_in(web, "admin", lang="en")
    response = client.get("/figures?from=yesterday")
    assert response.status_code == 400 and 'id="from-error"' in response.get_data(as_text=True)
    response = client.get("/figures?from=2026-11-30&to=2026-11-01")
    assert response.status_code == 400 and 'id="to-error"' in response.get_data(as_text=True)
    response = client.get("/figures?from=2024-01-01&to=2026-11-01")
    assert response.status_code == 400 and "at most 366 days" in response.get_data(as_text=True)


def test_figures_are_for_managers_and_admins(web: Flask) -> None:
    for username, status in (("cs_supervisor", 200), ("general_manager", 200), ("cs_assistant", 403),
                             ("technician", 403), ("process_owner", 403)):
        client, _ = signed_in(web, username)
        assert client.get("/figures").status_code == status, username


def test_titles_are_in_simplified_chinese(web: Flask) -> None:
    client, _ = signed_in(web, "admin")
    page = client.get("/figures").get_data(as_text=True)
    assert "回访满意率" in page and "维修及时率" in page


def test_each_figure_links_to_its_cases_as_csv_late_first(web: Flask) -> None:
    repair_history(web)
    client, _ = signed_in(web, "cs_manager", lang="en")
    page = client.get("/figures").get_data(as_text=True)
    assert "/figures/cases.csv?" in page and "kpi=repair_timeliness" in page
    response = client.get("/figures/cases.csv?kpi=repair_timeliness&from=2026-11-01&to=2026-11-30")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "流程单号" and [r[4] for r in rows[1:]] == ["否", "是"]  # the late one first
    by_person = client.get("/figures/cases.csv?kpi=repair_timeliness&from=2026-11-01&to=2026-11-30&actor=x")
    assert len(list(csv.reader(io.StringIO(by_person.get_data(as_text=True).lstrip("\ufeff"))))) == 1
    assert client.get("/figures/cases.csv?kpi=no_such").status_code == 404


def test_figures_page_shows_each_kpi_month_by_month(web: Flask) -> None:
    repair_history(web)
    client, _ = signed_in(web, "cs_manager", lang="en")
    page = client.get("/figures").get_data(as_text=True)  # period: November 2026
    match = re.search(r'<table class="table table--trend" id="kpi-trend">(.*?)</table>', page, re.S)
    assert match and "Month by month" in page
    trend = match.group(1)
    months = re.findall(r'<th scope="col" class="num">(\d{4}-\d{2})</th>', trend)
    assert months == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    row = re.search(r'id="trend-repair_timeliness">(.*?)</tr>', trend, re.S)
    assert row
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.S)
    assert len(cells) == 6 and all(c == "—" for c in cells[:5])  # no repairs before November
    assert "50.0%" in cells[5] and "1 of 2" in cells[5]
    # The earlier period ends in October, so its trend stops there and shows no November figure.
    october = client.get("/figures?from=2026-10-01&to=2026-10-31").get_data(as_text=True)
    assert "2026-10</th>" in october and "2026-11</th>" not in october
