"""The quality registers over HTTP: anomalies and their daily analysis, proposals, surveys, visits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import Api
from tests.conftest import T0


def start(api: Api, key: str, data: dict[str, Any], user: str) -> int:
    """Start an instance through the API; return its id."""
    started = api.ok("POST", "/process-instances", user, {"process_key": key, "data": data}, status=201)
    return int(started["id"])


def anomaly(api: Api, item: str = "appearance") -> int:
    return start(api, "service_quality_anomaly", {
        "service_item": item, "observed_at": (T0 - timedelta(hours=1)).isoformat(), "source": "quality_check",
        "description": "未佩戴胸卡"}, "quality_specialist")


def test_anomaly_register_and_daily_analysis_list_the_days_anomalies(api: Api) -> None:
    first, second = anomaly(api), anomaly(api)
    anomaly(api, "cleaning")
    register = api.ok("GET", "/registers/anomalies?from=2026-11-23&to=2026-11-23", "cs_manager")
    assert register["total"] == 3 and register["items"][0]["instance_id"] == first
    assert register["items"][0]["reported_by"] == "quality_specialist"
    report = api.ok("GET", "/registers/anomalies/daily-analysis?day=2026-11-23", "quality_specialist")
    assert [(i["service_item"], i["count"], i["open"]) for i in report["items"]] == [("appearance", 2, 2),
                                                                                   ("cleaning", 1, 1)]
    assert report["items"][0]["instances"] == [first, second] and len(report["open"]) == 3
    assert api.ok("GET", "/registers/anomalies?from=2026-11-24&to=2026-11-24", "cs_manager")["total"] == 0


def test_proposal_register_counts_per_customer_and_year(api: Api) -> None:
    for customer in ("华信公司", "华信公司", "李先生"):
        start(api, "customer_proposal", {"customer": customer, "channel": "phone",
                                         "received_at": (T0 - timedelta(hours=2)).isoformat(),
                                         "content": "建议", "department": "customer_service"}, "cs_assistant")
    register = api.ok("GET", "/registers/proposals", "cs_supervisor")
    assert register["total"] == 3 and {r["status"] for r in register["items"]} == {"received"}
    assert [(c["customer"], c["count"]) for c in register["per_customer"]] == [("华信公司", 2), ("李先生", 1)]


def test_visit_records_are_listed_and_surveys_start_empty(api: Api) -> None:
    visit = start(api, "customer_visit", {"customer": "华信公司", "feedback": "空调偏冷",
                                          "visited_at": (T0 - timedelta(hours=1)).isoformat()}, "cs_manager")
    visits = api.ok("GET", "/registers/visits?from=2026-11-01&to=2026-11-30", "general_manager")
    assert [(v["instance_id"], v["visitor"]) for v in visits["items"]] == [(visit, "cs_manager")]
    assert api.ok("GET", "/registers/surveys", "cs_manager")["total"] == 0


def test_quality_registers_are_not_for_every_role_and_refuse_an_inverted_period(api: Api) -> None:
    for path in ("/registers/anomalies", "/registers/proposals", "/registers/surveys", "/registers/visits",
                 "/registers/anomalies/daily-analysis"):
        assert api.get(path, "cleaner").status_code == 403, path
    response = api.get("/registers/anomalies?from=2026-11-30&to=2026-11-01", "cs_manager")
    assert response.status_code == 422
    assert api.get("/registers/anomalies/daily-analysis?day=yesterday", "cs_manager").status_code == 422
