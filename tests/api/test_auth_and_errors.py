"""Authentication, CSRF and the one error shape: what a client gets for what it sends."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.api.conftest import REPAIR, Api, basic, error_of, prepare
from tests.webui.conftest import make_app
from webui.extensions import db

CHALLENGE = 'Basic realm="PropertyFlow"'


def test_no_credentials_is_401_with_the_basic_challenge(api: Api) -> None:
    response = api.get("/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert error_of(response)["error"] == "unauthorized"


def test_wrong_password_is_401_with_the_challenge(api: Api) -> None:
    response = api.get("/tasks", headers=basic("cs_assistant", "not-the-password"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_posting_without_credentials_is_401_not_a_csrf_error(
        db_url: str, compiled_translations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch, WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/api/v1/process-instances", json={"process_key": "repair_dispatch"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    db.dispose(app)


@pytest.fixture
def csrf_app(db_url: str, compiled_translations: Path, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Flask:
    """An app with CSRF protection on, as in production."""
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch, WTF_CSRF_ENABLED=True)
    prepare(app)
    return app


def test_basic_auth_json_calls_need_no_csrf_token(csrf_app: Flask) -> None:
    response = csrf_app.test_client().post(
        "/api/v1/process-instances", headers=basic("cs_assistant"),
        json={"process_key": "repair_dispatch", "data": {**REPAIR, "category": "consultation"}})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_session_calls_without_the_csrf_token_are_refused(csrf_app: Flask) -> None:
    from tests.webui.conftest import csrf_token

    client = csrf_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "admin", "password": "demo-admin", "csrf_token": token})
    assert client.get("/api/v1/tasks").status_code == 200  # the session signs API reads in
    refused = client.post("/api/v1/process-instances", json={"process_key": "repair_dispatch"})
    assert refused.status_code == 400
    assert error_of(refused)["message"]
    allowed = client.post("/api/v1/process-instances/999/suspend", json={},
                          headers={"X-CSRFToken": csrf_token(client, "/api/v1/docs")})
    assert allowed.status_code == 404


def test_malformed_json_is_400_invalid_json(api: Api) -> None:
    response = api.call("POST", "/process-instances", "cs_assistant", data=b'{"process_key": ',
                        content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["error"] == "invalid_json"


def test_non_utf8_body_is_400(api: Api) -> None:
    response = api.call("POST", "/process-instances", "cs_assistant", data=b'{"process_key": "\xff\xfe"}',
                        content_type="application/json")
    assert response.status_code == 400


def test_deeply_nested_json_is_refused_without_a_server_error(api: Api) -> None:
    deep = b'{"process_key": "repair_dispatch", "data": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    response = api.call("POST", "/process-instances", "cs_assistant", data=deep,
                        content_type="application/json")
    assert response.status_code in (400, 422)
    error_of(response)


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"9" * 5000])
def test_numbers_json_does_not_allow_are_400(api: Api, number: bytes) -> None:
    raw = b'{"item": "alcohol", "quantity": ' + number + b"}"
    response = api.call("POST", "/registers/hazardous-goods/stock-in", "cs_foreman", data=raw,
                        content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["error"] == "invalid_json"


def test_unknown_query_parameters_are_422_not_ignored(api: Api) -> None:
    response = api.get("/process-instances?proces_key=repair_dispatch", "admin")
    assert response.status_code == 422
    assert "proces_key" in error_of(response)["fields"]


def test_a_body_that_is_not_json_is_415(api: Api) -> None:
    response = api.call("POST", "/process-instances", "cs_assistant", data="process_key=x",
                        content_type="text/plain")
    assert response.status_code == 415
    assert error_of(response)["error"] == "unsupported_media_type"


def test_unknown_and_mistyped_fields_are_422_by_name(api: Api) -> None:
    response = api.post("/process-instances", "cs_assistant", {"process_key": 5, "data": [], "extra": 1})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert set(fields) == {"process_key", "data", "extra"}


@pytest.mark.parametrize("query", ["page=0", "page=-3", "per_page=100000", "page=abc", "status=closed",
                                   "instance_id=-1", "scope=everything"])
def test_bad_paging_and_filters_are_422(api: Api, query: str) -> None:
    response = api.get(f"/tasks?{query}", "admin")
    assert response.status_code == 422
    assert error_of(response)["error"] == "invalid_data"


@pytest.mark.parametrize("path", ["/process-instances/99999999999999999999999",
                                  "/process-instances/0", "/tasks/not-a-uuid", "/process-definitions/a%00b",
                                  "/process-definitions/x/xml", "/nowhere"])
def test_unknown_or_impossible_ids_are_404(api: Api, path: str) -> None:
    response = api.get(path, "admin")
    assert response.status_code == 404
    error_of(response)


def test_nul_characters_are_refused_by_field(api: Api) -> None:
    response = api.post("/process-instances", "cs_assistant",
                        {"process_key": "repair_dispatch", "data": {"unit": "1\u0000F"}})
    assert response.status_code == 422
    assert "data" in error_of(response)["fields"]
