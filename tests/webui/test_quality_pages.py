"""Quality pages: the daily anomaly register, the manager's analysis, 異常處理單 print, figures drill-down."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from tests.conftest import T0

from .conftest import deploy_processes, start_case
from .test_instances import complete, signed_in


def report_anomaly(app: Flask) -> int:
    """Report a cleaning anomaly and have the quality specialist investigate it."""
    instance_id = start_case(app, "service_quality_anomaly", {
        "service_item": "cleaning", "observed_at": (T0 - timedelta(hours=1)).isoformat(),
        "source": "self_check", "description": "大堂地面未清洁"}, "cleaner")
    complete(app, instance_id, "investigate", {"cause": "排班缺人", "handling": "补清洁",
                                               "improvement": "调整排班", "department": "cleaning"},
             "quality_specialist")
    return instance_id


def test_anomaly_register_and_daily_analysis_show_the_days_anomalies(web: Flask) -> None:
    deploy_processes(web)
    instance_id = report_anomaly(web)
    client, _ = signed_in(web, "cs_manager")
    page = client.get("/quality/anomalies?day=2026-11-23").get_data(as_text=True)
    assert "服务质量异常记录表" in page and "大堂地面未清洁" in page and f"#{instance_id}" in page
    analysis = client.get("/quality/anomalies/analysis?day=2026-11-23").get_data(as_text=True)
    assert "质量异常分析日报表" in analysis and "保洁" in analysis
    assert client.get("/quality/anomalies/analysis?day=2026-02-30").status_code == 400
    assert "当日无异常记录" in client.get("/quality/anomalies?day=2026-11-24").get_data(as_text=True)


def test_the_quality_specialist_reads_the_quality_registers_and_a_cleaner_does_not(web: Flask) -> None:
    deploy_processes(web)
    client, _ = signed_in(web, "quality_specialist", lang="en")
    for path in ("/quality", "/quality/proposals", "/quality/surveys", "/quality/visits"):
        assert client.get(path).status_code == 200, path
    assert "Service-quality anomaly register" in client.get("/quality").get_data(as_text=True)
    cleaner, _ = signed_in(web, "cleaner")
    assert cleaner.get("/quality").status_code == 403


def test_anomaly_handling_form_prints_cause_and_measures(web: Flask) -> None:
    deploy_processes(web)
    instance_id = report_anomaly(web)
    client, _ = signed_in(web, "cs_manager")
    page = client.get(f"/records/{instance_id}").get_data(as_text=True)
    assert "异常处理单" in page and "排班缺人" in page and "调整排班" in page


def test_figures_page_shows_the_quality_kpis_and_links_open_anomalies(web: Flask) -> None:
    deploy_processes(web)
    instance_id = report_anomaly(web)
    client, _ = signed_in(web, "cs_manager", lang="en")
    page = client.get("/figures?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    for key in ("satisfaction", "survey_handout_rate", "survey_return_rate", "customer_visits",
                "anomalies_closed", "callback_satisfaction"):
        assert f'id="kpi-{key}"' in page, key
    assert "1 open, 0 closed" in page and f'href="/instances/{instance_id}"' in page
