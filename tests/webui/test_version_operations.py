"""The statistics page with its heatmap data, and the migration page's dry run and real run."""

from __future__ import annotations

import json
import re

from flask import Flask
from sqlalchemy import select

from engine.store.models import ProcessInstance, ProcessVersion
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import PROCESSES, start_case
from .test_instances import repair, signed_in

REPAIR_XML = (PROCESSES / "repair_dispatch.bpmn").read_text(encoding="utf-8")


def deploy_v2(app: Flask, xml: str) -> None:
    """Deploy a changed repair_dispatch as version 2."""
    with app.app_context():
        get_engine().deploy(db.session, xml, filename="repair_dispatch.bpmn")
        db.session.commit()


def version_of(app: Flask, instance_id: int) -> int:
    """Return the version number a case runs on."""
    with app.app_context():
        return int(db.session.scalar(select(ProcessVersion.version).join(
            ProcessInstance, ProcessInstance.version_id == ProcessVersion.id)
            .where(ProcessInstance.id == instance_id)) or 0)


def test_statistics_page_shows_the_table_and_the_heatmap_data(web: Flask) -> None:
    start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, _ = signed_in(web, "process_owner")
    page = client.get("/models/repair_dispatch/versions/1/statistics?from=2026-11-01&to=2026-11-30")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    data = json.loads(re.search(r'<script type="application/json" id="heatmap-data">(.*?)</script>', text,
                                re.S).group(1))  # type: ignore[union-attr]
    assert data["cases"] == 1
    assert 'id="statistics-table"' in text and "statistics_heatmap.js" in text
    client, _ = signed_in(web, "cs_manager")
    assert client.get("/models/repair_dispatch/versions/1/statistics").status_code == 403


def test_migration_page_dry_runs_with_reasons_then_moves(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    renamed = REPAIR_XML.replace('id="dispatch"', 'id="assign_work"').replace(
        'sourceRef="dispatch"', 'sourceRef="assign_work"').replace(
        'targetRef="dispatch"', 'targetRef="assign_work"').replace(
        'bpmnElement="dispatch"', 'bpmnElement="assign_work"').replace(
        'attachedToRef="dispatch"', 'attachedToRef="assign_work"').replace(
        "<bpmn:flowNodeRef>dispatch<", "<bpmn:flowNodeRef>assign_work<")
    deploy_v2(web, renamed)
    client, token = signed_in(web, "process_owner")
    form = {"csrf_token": token, "from_version": "1", "to_version": "2", "mapping": "", "instance_ids": "",
            "action": "dry_run"}
    page = client.post("/models/repair_dispatch/migrate", data=form).get_data(as_text=True)
    assert version_of(web, case) == 1
    assert 'id="migration-report"' in page and "map it" in page and "dispatch" in page
    moved = client.post("/models/repair_dispatch/migrate",
                        data={**form, "mapping": "dispatch=assign_work", "action": "migrate"})
    assert moved.status_code == 200 and version_of(web, case) == 2
    bad = client.post("/models/repair_dispatch/migrate", data={**form, "mapping": "nonsense"})
    assert bad.status_code == 422
