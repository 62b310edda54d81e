"""In chromium: the statistics heatmap drawn over a version's diagram, and the migration page's dry run."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from engine.runtime import Actor
from engine.store.models import ProcessVersion
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import People, shot

pytestmark = pytest.mark.browser
REPAIR = {"channel": "phone", "reporter_name": "李女士", "contact_phone": "13800002222", "unit": "7F-0701",
          "description": "灯不亮", "category": "repair", "paid": False}


def test_the_heatmap_tints_the_steps_cases_passed(live_app: Flask, people: People) -> None:
    with live_app.app_context():
        cs = Actor("cs_assistant", frozenset({"cs_assistant"}))
        inst = get_engine().start(db.session, "repair_dispatch", REPAIR, cs)
        db.session.commit()
        # The version the case runs on: tests before this one may have deployed others.
        number = db.session.scalar(select(ProcessVersion.version).where(ProcessVersion.id == inst.version_id))
    page = people.page("process_owner")
    page.goto(f"/models/repair_dispatch/versions/{number}/statistics?from=2000-01-01&to=2999-12-31")
    expect(page.locator("#heatmap-diagram[data-ready=true]")).to_be_visible()
    expect(page.locator("#heatmap-diagram .pf-heat").first).to_be_attached()
    expect(page.locator("#statistics-table")).to_contain_text("dispatch")
    shot(page, "statistics-heatmap")


@pytest.mark.usefixtures("shipped_processes_afterwards")
def test_the_migration_page_dry_run_lists_each_case(live_app: Flask, people: People) -> None:
    with live_app.app_context():
        xml = db.session.scalar(select(ProcessVersion.bpmn_xml).where(
            ProcessVersion.process_key == "repair_dispatch", ProcessVersion.version == 1))
        assert xml is not None
        get_engine().deploy(db.session, xml.replace('name="派工"', 'name="派工安排"'), filename="r.bpmn")
        db.session.commit()
    page = people.page("process_owner")
    page.goto("/models/repair_dispatch/migrate")
    page.click("button[value=dry_run]")
    expect(page.locator("#migration-report")).to_contain_text("可以迁移")
    shot(page, "migration-dry-run")
