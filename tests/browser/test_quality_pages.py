"""The quality pages in a real browser: the manager reads the day's anomalies and prints a 異常處理單."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from engine.runtime import Actor
from engine.users import get_user
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import People, shot
from .test_admin_flows import no_sideways_scroll


def act(app: Flask, username: str, action: str, *args: object) -> object:
    """Call an engine action as a demo user and commit."""
    with app.app_context():
        user = get_user(db.session, username)
        assert user is not None
        result = getattr(get_engine(), action)(db.session, *args, Actor(username, user.role_ids))
        db.session.commit()
        return result


def test_the_manager_reads_the_days_anomalies_and_their_analysis_and_prints_the_form(
        live_app: Flask, people: People) -> None:
    now = datetime.now(UTC)
    started = act(live_app, "cleaner", "start", "service_quality_anomaly", {
        "service_item": "cleaning", "observed_at": (now - timedelta(minutes=5)).isoformat(),
        "source": "self_check", "description": "大堂地面未清洁"})
    instance_id = started.id  # type: ignore[attr-defined]
    manager = people.page("cs_manager")
    manager.goto("/quality/anomalies")
    assert "大堂地面未清洁" in manager.inner_text("main")
    no_sideways_scroll(manager)
    shot(manager, "quality-anomaly-register")
    manager.goto("/quality/anomalies/analysis")
    assert "质量异常分析日报表" in manager.inner_text("main")
    shot(manager, "quality-anomaly-analysis")
    manager.goto(f"/records/{instance_id}")
    assert "异常处理单" in manager.inner_text("main")
    shot(manager, "quality-anomaly-form")
    manager.goto("/figures")
    assert manager.locator("#kpi-satisfaction").is_visible()
    shot(manager, "quality-figures")
