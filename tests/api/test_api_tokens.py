"""Personal API tokens: Bearer calls, shown once, stored as SHA-256, revocable, last use noted."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.api_tokens import create_token, list_tokens, revoke_token
from engine.store.models import ApiToken
from tests.api.conftest import REPAIR, Api, prepare
from tests.webui.conftest import login, make_app
from webui.cli import cli, load_extensions
from webui.extensions import db

load_extensions()  # registers `bpm tokens`


def new_token(app: Flask, username: str, name: str = "script") -> tuple[int, str]:
    """Create a token for a user and return (id, secret)."""
    with app.app_context():
        view, secret = create_token(db.session(), username, name, datetime.now(UTC))
        db.session.commit()
        return view.id, secret


def bearer(secret: str) -> dict[str, str]:
    """Return the Authorization header of a token."""
    return {"Authorization": f"Bearer {secret}"}


def test_a_token_opens_the_api_and_its_last_use_is_noted(app: Flask, api: Api) -> None:
    token_id, secret = new_token(app, "cs_assistant")
    response = api.client.get("/api/v1/tasks", headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    started = api.client.post("/api/v1/process-instances", headers=bearer(secret),
                              json={"process_key": "repair_dispatch", "data": REPAIR})
    assert started.status_code == 201, started.get_data(as_text=True)
    assert started.get_json()["started_by"] == "cs_assistant"
    with app.app_context():
        [view] = list_tokens(db.session(), "cs_assistant")
    assert view.id == token_id and view.last_used_at is not None


def test_only_the_sha256_of_a_token_is_stored(app: Flask) -> None:
    _id, secret = new_token(app, "cs_assistant")
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row is not None
        stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not [value for value in stored if secret in value]
    assert secret.startswith(row.prefix) and len(row.prefix) < 12


def test_a_revoked_unknown_or_deactivated_users_token_is_refused(app: Flask, api: Api) -> None:
    revoked_id, revoked = new_token(app, "cs_assistant")
    _id, deactivated = new_token(app, "technician")
    with app.app_context():
        assert revoke_token(db.session(), revoked_id, datetime.now(UTC))
        assert not revoke_token(db.session(), revoked_id, datetime.now(UTC))  # already revoked
        from engine.users import get_user

        user = get_user(db.session(), "technician")
        assert user is not None
        user.active = False
        db.session.commit()
    for secret in (revoked, deactivated, "pf_not-a-token", "plainly wrong"):
        response = api.client.get("/api/v1/tasks", headers=bearer(secret))
        assert response.status_code == 401, secret


def test_token_calls_with_a_json_body_need_no_csrf_token(
        db_url: str, compiled_translations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf_app = make_app(db_url, compiled_translations, tmp_path, monkeypatch, WTF_CSRF_ENABLED=True)
    prepare(csrf_app)
    _id, secret = new_token(csrf_app, "cs_assistant")
    response = csrf_app.test_client().post(
        "/api/v1/process-instances", headers=bearer(secret),
        json={"process_key": "repair_dispatch", "data": {**REPAIR, "category": "consultation"}})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_a_token_needs_a_name_and_an_active_user(app: Flask) -> None:
    from engine.users import UserInputError

    with app.app_context():
        for username, name, field in (("cs_assistant", "  ", "name"), ("nobody", "x", "username"),
                                      ("cs_assistant", "x" * 65, "name")):
            try:
                create_token(db.session(), username, name, datetime.now(UTC))
            except UserInputError as refused:
                assert refused.field == field
            else:
                raise AssertionError(f"{username!r}/{name!r} was accepted")


def test_bpm_tokens_creates_lists_and_revokes(app: Flask, api: Api) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(cli, ["tokens", "create", "cs_assistant", "--name", "nightly export"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert api.client.get("/api/v1/tasks", headers=bearer(secret)).status_code == 200
    listed = runner.invoke(cli, ["tokens", "list"])
    assert "nightly export" in listed.output and secret not in listed.output and "active" in listed.output
    token_id = re.search(r"token (\d+)", created.output)
    assert token_id is not None
    assert runner.invoke(cli, ["tokens", "revoke", token_id.group(1)]).exit_code == 0
    assert api.client.get("/api/v1/tasks", headers=bearer(secret)).status_code == 401
    again = runner.invoke(cli, ["tokens", "revoke", token_id.group(1)])
    assert again.exit_code != 0 and "no active token" in again.output
    refused = runner.invoke(cli, ["tokens", "create", "nobody", "--name", "x"])
    assert refused.exit_code != 0 and "not an active user" in refused.output


def test_the_tokens_page_shows_a_new_secret_once_and_revokes_only_ones_own(app: Flask, api: Api) -> None:
    others_id, _secret = new_token(app, "technician")
    client = app.test_client()
    login(client, "cs_assistant")
    created = client.post("/account/tokens", data={"name": "报表脚本"})
    assert created.status_code == 201
    page = created.get_data(as_text=True)
    secret = re.search(r'data-testid="token-secret">([^<]+)<', page)
    assert secret is not None and "报表脚本" in page
    assert api.client.get("/api/v1/tasks", headers=bearer(secret.group(1))).status_code == 200
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert "报表脚本" in listing and secret.group(1) not in listing
    assert client.post(f"/account/tokens/{others_id}/revoke").status_code == 404
    with app.app_context():
        [mine] = list_tokens(db.session(), "cs_assistant")
    assert client.post(f"/account/tokens/{mine.id}/revoke").status_code == 302
    assert api.client.get("/api/v1/tasks", headers=bearer(secret.group(1))).status_code == 401
    assert client.post("/account/tokens", data={"name": ""}).status_code == 422
