"""One time-zone setting: the business calendar's zone rules forms, registers, API figures and pages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from tests.api.conftest import Api, prepare
from tests.api.test_key_registers import seal
from tests.webui.conftest import login, make_app
from webui.engine_ext import get_engine
from webui.extensions import db

# 1 December 03:00 UTC: still 30 November in New York (22:00), already 1 December in Shanghai (11:00).
MONTH_END = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def app(db_url: str, compiled_translations: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Yield the API app on a business calendar kept in New York time, clock at MONTH_END."""
    calendar = tmp_path / "calendar.json"
    calendar.write_text(json.dumps({"timezone": "America/New_York", "country": None}), encoding="utf-8")
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch, BPM_CALENDAR_FILE=str(calendar))
    prepare(app)
    with app.app_context():
        get_engine().clock = lambda: MONTH_END
    yield app
    db.dispose(app)


def test_a_typed_time_without_offset_is_read_in_the_calendar_zone(api: Api) -> None:
    seal(api, "12F-1203", "F-1203")  # an incident is reported on a sealed key (issue 13)
    started = api.ok("POST", "/process-instances", "cs_supervisor", {
        "process_key": "sealed_key_incident",
        "data": {"unit": "12F-1203", "incident_type": "damaged", "discovered_at": "2026-11-30T20:30",
                 "account": "封条破损"}}, status=201)
    # 20:30 in New York (EST, UTC-5) is 01:30 UTC the next day; read as Shanghai time it would be 12:30 UTC.
    assert started["data"]["discovered_at"] == "2026-12-01T01:30:00+00:00"


def test_a_register_line_is_dated_in_the_calendar_zone(api: Api) -> None:
    api.ok("POST", "/registers/hazardous-goods/stock-in", "cs_foreman", {"item": "alcohol", "quantity": 2},
           status=201)
    response = api.get("/registers/hazardous-goods?format=csv", "cs_foreman")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][:2] == ["2026-11-30", "22:00"]


def test_the_api_kpi_period_and_the_figures_page_read_the_same_days(api: Api, app: Flask) -> None:
    report = api.ok("GET", "/kpis", "cs_manager")
    # This month is November in New York: 1 November 00:00 EDT (UTC-4) to 1 December 00:00 EST (UTC-5).
    assert report["from"].startswith("2026-11-01T04:00") and report["to"].startswith("2026-12-01T05:00")
    client = app.test_client()
    login(client, "cs_manager")
    page = client.get("/figures").get_data(as_text=True)
    shown = re.search(r'id="p-from" name="from" type="date" value="([^"]+)"', page)
    assert shown is not None and shown[1] == "2026-11-01"
