"""API fixtures: the app with demo users and the shipped processes, Basic-auth request helpers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from engine.store.db import create_schema
from engine.users import ensure_demo_users
from tests.conftest import T0
from tests.webui.conftest import PASSWORDS, compiled_translations, fast_hashing, make_app
from webui.engine_ext import get_engine
from webui.extensions import db

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
REPAIR = {"channel": "phone", "reporter_name": "王先生", "contact_phone": "13800001111", "unit": "12F-1203",
          "description": "卫生间漏水", "category": "repair", "paid": False}


def basic(username: str, password: str | None = None) -> dict[str, str]:
    """Return the Authorization header of a demo user (demo password unless given)."""
    raw = f"{username}:{password or PASSWORDS[username]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def prepare(app: Flask) -> None:
    """Create the schema, the demo users and the shipped processes; fix the clock at T0."""
    with app.app_context():
        create_schema(db.engine)
        ensure_demo_users(db.session)
        engine = get_engine()
        engine.clock = lambda: T0
        for path in sorted(PROCESSES.glob("*.bpmn")):
            engine.deploy(db.session, path.read_bytes(), filename=path.name)
        db.session.commit()


@pytest.fixture
def app(db_url: str, compiled_translations: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Yield an app with demo users and the processes deployed; CSRF off (tests that need it turn it on)."""
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch)
    prepare(app)
    yield app
    db.dispose(app)


class Api:
    """A test client speaking JSON with HTTP Basic as a chosen demo user."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def call(self, method: str, path: str, user: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        """Send one request to /api/v1 + path."""
        sent = dict(basic(user) if user else {})
        sent.update(headers or {})
        if body is not None:
            kwargs["json"] = body
        return self.client.open("/api/v1" + path, method=method, headers=sent, **kwargs)

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> TestResponse:
        """GET as user."""
        return self.call("GET", path, user, **kwargs)

    def post(self, path: str, user: str | None = None, body: Any = None, **kwargs: Any) -> TestResponse:
        """POST a JSON body as user."""
        return self.call("POST", path, user, body if body is not None else {}, **kwargs)

    def ok(self, method: str, path: str, user: str, body: Any = None, status: int = 200) -> Any:
        """Send a request and return its JSON, asserting the status."""
        response = self.call(method, path, user, body)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def start_repair(self, **changes: Any) -> dict[str, Any]:
        """Start a repair request as cs_assistant and return the instance."""
        started: dict[str, Any] = self.ok("POST", "/process-instances", "cs_assistant",
                                          {"process_key": "repair_dispatch", "data": {**REPAIR, **changes}},
                                          status=201)
        return started

    def open_task(self, instance_id: int, name: str, user: str = "admin") -> dict[str, Any]:
        """Return the open task called name of an instance (as seen by an admin)."""
        instance = self.ok("GET", f"/process-instances/{instance_id}", user)
        found = [t for t in instance["open_tasks"] if t["name"] == name]
        assert found, f"no open {name}: {[t['name'] for t in instance['open_tasks']]}"
        task: dict[str, Any] = found[0]
        return task


@pytest.fixture
def api(app: Flask) -> Api:
    """Return the JSON/Basic helper on a fresh client."""
    return Api(app.test_client())


def error_of(response: TestResponse) -> dict[str, Any]:
    """Return the error body after checking it has the API's one error shape."""
    body = response.get_json()
    assert set(body) >= {"error", "message", "fields"}, body
    assert isinstance(body["fields"], dict)
    return dict(body)


__all__ = ["Api", "api", "app", "basic", "compiled_translations", "error_of", "fast_hashing"]
