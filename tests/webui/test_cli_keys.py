"""`bpm demo-keys`: sealed units and kept keys walked through key_custody, and `bpm check` agrees."""

from __future__ import annotations

from flask import Flask

from department import keys
from webui.cli import cli, load_extensions
from webui.extensions import db

from .conftest import deploy_processes


def test_demo_keys_seals_a_few_units_through_the_process_once(app: Flask) -> None:
    deploy_processes(app)
    load_extensions()
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["demo"]).exit_code == 0
    result = runner.invoke(cli, ["demo-keys"])
    assert result.exit_code == 0, result.output
    assert "15F-1501: sealed under F-000123" in result.output
    again = runner.invoke(cli, ["demo-keys"])
    assert again.exit_code == 0 and again.output == ""  # idempotent: nothing walked twice
    with app.app_context():
        rows = keys.statuses(db.session)
        assert sum(1 for r in rows if r.status == "sealed") == 3
        assert {r.kind for r in rows} == {"unit", "plant_room", "master"}
        assert all(line.instance_id for line in db.session.scalars(keys.history_query()))
        assert keys.register_agrees(db.session) == []


def test_bpm_check_proves_the_key_register_agrees_with_its_history(app: Flask) -> None:
    deploy_processes(app)
    load_extensions()
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["demo"]).exit_code == 0
    assert runner.invoke(cli, ["demo-keys"]).exit_code == 0
    clean = runner.invoke(cli, ["check"])
    assert clean.exit_code == 0, clean.output
    with app.app_context():
        row = keys.status_of(db.session, "16F-1602")
        assert row is not None
        row.status = "in_custody"  # changed behind the processes' back
        db.session.commit()
    found = runner.invoke(cli, ["check"])
    assert found.exit_code == 1
    assert "key 16F-1602" in found.output
