"""The `bpm` command line: init-db, users, demo, run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, inspect, select

from department.roles import ROLES
from engine.store.models import User
from engine.users import authenticate, demo_accounts, get_user
from webui.cli import cli, load_extensions
from webui.extensions import db

from .conftest import make_app


def test_init_db_creates_the_tables(tmp_path: Path, compiled_translations: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(f"sqlite:///{tmp_path}/fresh.sqlite", compiled_translations, tmp_path, monkeypatch)
    result = app.test_cli_runner().invoke(cli, ["init-db"])
    assert result.exit_code == 0, result.output
    assert "database ready" in result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"users", "user_roles", "process_instances", "tasks"} <= tables
    assert app.test_cli_runner().invoke(cli, ["init-db"]).exit_code == 0  # repeatable
    db.dispose(app)


def test_users_create_with_several_roles(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["users", "create", "li.na", "--role", "cs_assistant", "--role",
                                 "night_duty", "--password", "s3cret-pass", "--display-name", "李娜"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = get_user(db.session, "li.na")
        assert user is not None and user.role_ids == {"cs_assistant", "night_duty"}
        assert user.display_name == "李娜"
        assert authenticate(db.session, "li.na", "s3cret-pass", datetime.now(UTC)) is not None


@pytest.mark.parametrize(("args", "message"), [
    (["Bad Name", "--role", "admin", "--password", "long-enough"], "username"),
    (["x", "--role", "admin", "--password", "long-enough"], "username"),
    (["zhang", "--role", "janitor", "--password", "long-enough"], "janitor"),
    (["zhang", "--role", "admin", "--password", "short"], "password"),
    (["admin", "--role", "admin", "--password", "long-enough"], "already exists"),
])
def test_users_create_rejects_bad_input(runner: FlaskCliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["users", "create", *args])
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output


def test_users_create_needs_a_role(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["users", "create", "zhang", "--password", "long-enough"])
    assert result.exit_code != 0 and "--role" in result.output


def test_users_list_shows_users_and_roles(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["users", "list"])
    assert result.exit_code == 0
    assert "cs_assistant2" in result.output and "security_guard" in result.output


def test_demo_is_idempotent_and_prints_how_to_sign_in(app: Flask, runner: FlaskCliRunner) -> None:
    first = runner.invoke(cli, ["demo"])
    second = runner.invoke(cli, ["demo"])
    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output
    for username, password, _roles in demo_accounts():
        assert username in first.output and password in first.output
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(User))
    assert count == len(ROLES) + 4


def test_set_password_and_unlock(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        user = get_user(db.session, "cleaner")
        assert user is not None
        user.locked_until = datetime.now(UTC) + timedelta(minutes=10)
        db.session.commit()
    assert runner.invoke(cli, ["users", "unlock", "cleaner"]).exit_code == 0
    with app.app_context():
        user = get_user(db.session, "cleaner")
        assert user is not None and user.locked_until is None
    result = runner.invoke(cli, ["users", "set-password", "cleaner", "--password", "another-pass"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["users", "set-password", "ghost", "--password", "another-pass"]).exit_code == 1
    assert runner.invoke(cli, ["users", "set-password", "cleaner", "--password", "short"]).exit_code == 1


def test_run_accepts_host_port_and_worker_flag(runner: FlaskCliRunner) -> None:
    result = runner.invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output and "--with-worker" in result.output


def test_the_group_is_extensible(runner: FlaskCliRunner) -> None:
    @cli.command("probe-extension")
    def probe() -> None:
        print(db.session.scalar(select(func.count()).select_from(User)))

    try:
        result = runner.invoke(cli, ["probe-extension"])
        assert result.exit_code == 0 and result.output.strip() == str(len(ROLES) + 4)
    finally:
        cli.commands.pop("probe-extension")


def test_a_command_on_a_fresh_embedded_database_creates_the_schema(
        tmp_path: Path, compiled_translations: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BPM_DATABASE_URL", raising=False)
    app = make_app("", compiled_translations, tmp_path, monkeypatch)  # "": the embedded default file
    result = app.test_cli_runner().invoke(cli, ["users", "list"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "username" in result.output
    with app.app_context():
        assert "users" in set(inspect(db.engine).get_table_names())
    db.dispose(app)


@pytest.mark.parametrize("args", [["users", "list"], ["check"], ["deploy", "nothing.bpmn"], ["demo"]])
def test_a_command_on_an_uninitialised_database_says_in_one_line_to_run_init_db(
        tmp_path: Path, compiled_translations: Path, monkeypatch: pytest.MonkeyPatch,
        args: list[str]) -> None:
    load_extensions()  # bpm check and bpm deploy live in the extension modules
    app = make_app(f"sqlite:///{tmp_path}/elsewhere.sqlite", compiled_translations, tmp_path, monkeypatch)
    result = app.test_cli_runner().invoke(cli, args)
    assert result.exit_code != 0
    expected = (f"Error: the database sqlite:///{tmp_path}/elsewhere.sqlite has no schema yet: "
                "run `bpm init-db` first")
    assert result.output.strip().splitlines() == [expected]
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
    assert app.test_cli_runner().invoke(cli, [*args[:1], "--help"]).exit_code == 0
    db.dispose(app)


def test_bpm_demo_accounts_must_choose_a_new_password_at_first_sign_in(
        tmp_path: Path, compiled_translations: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    app = make_app(f"sqlite:///{tmp_path}/demo.sqlite", compiled_translations, tmp_path, monkeypatch)
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["init-db"]).exit_code == 0
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0 and "must choose a new password" in result.output

    def basic(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}

    client = app.test_client()
    refused = client.get("/api/v1/process-instances", headers=basic("demo-admin"))
    assert refused.status_code == 403 and "demo password" in refused.json["message"]  # type: ignore[index]
    signed_in = client.post("/login", data={"username": "admin", "password": "demo-admin"})
    assert signed_in.headers["Location"] == "/"
    assert client.get("/inbox").headers["Location"] == "/account/password"
    same = client.post("/account/password", data={"current_password": "demo-admin",
                                                  "new_password": "demo-admin", "confirm": "demo-admin"})
    assert same.status_code == 422 and "不同" in same.get_data(as_text=True)
    changed = client.post("/account/password", data={
        "current_password": "demo-admin", "new_password": "my-own-secret", "confirm": "my-own-secret"})
    assert changed.status_code == 302
    assert client.get("/inbox").status_code == 200  # still signed in, with the new stamp
    assert client.get("/api/v1/process-instances", headers=basic("my-own-secret")).status_code == 200
    db.dispose(app)


def test_deploy_from_camunda_prints_the_conversion_report_and_deploys(runner: FlaskCliRunner) -> None:
    load_extensions()
    leak = Path(__file__).resolve().parents[1] / "data" / "camunda" / "leak_report.bpmn"
    result = runner.invoke(cli, ["deploy", "--from", "camunda", str(leak)])
    assert result.exit_code == 0, result.output
    assert "leak_report.bpmn: converted from Camunda 7" in result.output
    assert ("! Activity_mail (通知): Java/external implementation (class='com.example.Mail') dropped"
            in result.output)
    assert "leak_report.bpmn: leak_report v1 (new version)" in result.output
