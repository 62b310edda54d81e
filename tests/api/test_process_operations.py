"""Migrating cases and per-element statistics over the API."""

from __future__ import annotations

from tests.api.conftest import REPAIR, Api


def test_a_dry_run_judges_each_case_and_a_missing_version_is_404(api: Api) -> None:
    started = api.ok("POST", "/process-instances", "cs_assistant",
                     {"process_key": "repair_dispatch", "data": REPAIR}, status=201)
    report = api.ok("POST", "/process-definitions/repair_dispatch/migrations", "admin",
                    {"from_version": 1, "to_version": 2, "instance_ids": [started["id"]]}, status=404)
    assert "to_version" in report["message"]


def test_migrating_needs_an_admin_or_a_process_owner(api: Api) -> None:
    response = api.post("/process-definitions/repair_dispatch/migrations", "cs_assistant",
                        {"from_version": 1, "to_version": 2})
    assert response.status_code == 403


def test_statistics_count_the_started_cases_of_the_newest_version(api: Api) -> None:
    api.ok("POST", "/process-instances", "cs_assistant", {"process_key": "repair_dispatch", "data": REPAIR},
           status=201)
    stats = api.ok("GET", "/process-definitions/repair_dispatch/statistics", "cs_manager")
    assert (stats["version"], stats["cases"]) == (1, 1)
    assert any(e["element_id"] for e in stats["elements"])
    refused = api.get("/process-definitions/repair_dispatch/statistics?from=2026-12-01&to=2026-11-01",
                      "cs_manager")
    assert refused.status_code == 422
