"""`bpm migrate-instances` and `bpm history archive|find` on the shipped processes."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from engine.store.models import ProcessInstance
from tests.api.conftest import REPAIR, Api
from webui.cli import cli, load_extensions
from webui.extensions import db


def test_migrate_instances_reports_a_refusal_with_its_reason(app: Flask, api: Api) -> None:
    load_extensions()
    api.ok("POST", "/process-instances", "cs_assistant", {"process_key": "repair_dispatch", "data": REPAIR},
           status=201)
    result = app.test_cli_runner().invoke(cli, ["migrate-instances", "repair_dispatch", "--from", "1",
                                                "--to", "2", "--dry-run"])
    assert result.exit_code == 1 and "to_version: process 'repair_dispatch' has no version 2" in result.output
    result = app.test_cli_runner().invoke(cli, ["migrate-instances", "repair_dispatch", "--from", "1",
                                                "--to", "2", "--map", "nonsense"])
    assert result.exit_code == 2 and "OLD=NEW" in result.output


def test_history_archive_then_find_a_case_by_its_number(app: Flask, api: Api, tmp_path: Path) -> None:
    load_extensions()
    started = api.ok("POST", "/process-instances", "cs_assistant",
                     {"process_key": "repair_dispatch", "data": REPAIR}, status=201)
    api.ok("POST", f"/process-instances/{started['id']}/terminate", "admin", {"reason": "duplicate"})
    path = tmp_path / "old.jsonl.gz"
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["history", "archive", "--finished-before", "2999-01-01", str(path)])
    assert result.exit_code == 0, result.output
    assert "archived 1 case(s)" in result.output
    with app.app_context():
        gone = select(ProcessInstance.id).where(ProcessInstance.id == started["id"])
        assert db.session.scalar(gone) is None
    found = runner.invoke(cli, ["history", "find", str(path), f"{started['id']:06d}"])
    assert found.exit_code == 0, found.output
    record = json.loads(found.output)
    assert record["instance"]["status"] == "terminated"
    assert [e["kind"] for e in record["tables"]["history"]][-1] == "terminated"
    missing = runner.invoke(cli, ["history", "find", str(path), "999999"])
    assert missing.exit_code == 1 and "not in" in missing.output
