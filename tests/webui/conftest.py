"""Web fixtures: an app on a temporary SQLite database with demo users, a client, a CLI runner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

import engine.passwords
import engine.users
from engine.passwords import ScryptParams
from engine.store.db import create_schema
from engine.users import demo_accounts, ensure_demo_users
from webui import create_app
from webui.extensions import db

SOURCE_TRANSLATIONS = Path(__file__).resolve().parents[2] / "webui" / "translations"
PASSWORDS = {username: password for username, password, _roles in demo_accounts()}


@pytest.fixture(scope="session")
def compiled_translations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compile the committed .po catalogs into a temporary folder (the .mo files are not committed)."""
    out = tmp_path_factory.mktemp("translations")
    for po_path in SOURCE_TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale)
        target = out / locale / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as fh:
            write_mo(fh, catalog)
    return out


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use cheap scrypt parameters: demo users are created for every test."""
    monkeypatch.setattr(engine.passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))


def make_app(db_url: str, translations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             **overrides: object) -> Flask:
    """Build an app isolated from the developer's instance folder and environment."""
    monkeypatch.setenv("BPM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("BPM_SECRET_KEY", raising=False)
    config: dict[str, object] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "BPM_DATABASE_URL": db_url,
        "WTF_CSRF_ENABLED": False,
        "BABEL_TRANSLATION_DIRECTORIES": str(translations),
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(db_url: str, compiled_translations: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Yield an app with the schema and the demo users; CSRF off (test_security turns it on)."""
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch)
    with app.app_context():
        create_schema(db.engine)
        ensure_demo_users(db.session)
        db.session.commit()
    yield app
    db.dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Return a CLI runner bound to the app."""
    return app.test_cli_runner()


def login(client: FlaskClient, username: str, password: str | None = None,
          next_url: str | None = None) -> TestResponse:
    """Sign in through the form (demo password unless given) and return the response."""
    data = {"username": username, "password": password or PASSWORDS[username]}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """Fetch a page and return the CSRF token embedded in it."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def deploy_processes(app: Flask) -> None:
    """Deploy the shipped processes and fix the engine's clock at T0 (Monday 10:00 Shanghai)."""
    from tests.conftest import T0
    from webui.engine_ext import get_engine

    with app.app_context():
        engine = get_engine()
        engine.clock = lambda: T0
        for path in sorted(PROCESSES.glob("*.bpmn")):
            engine.deploy(db.session, path.read_bytes(), filename=path.name)
        db.session.commit()


@pytest.fixture
def process_app(app: Flask) -> Flask:
    """Return the app with the four shipped processes deployed and the clock at T0."""
    deploy_processes(app)
    return app


REPAIR = {"channel": "phone", "reporter_name": "王先生", "contact_phone": "13800001111", "unit": "12F-1203",
          "description": "卫生间漏水", "category": "repair", "paid": "false"}


def start_case(app: Flask, key: str, data: dict[str, object], username: str) -> int:
    """Start a case through the engine as a demo user (roles as the demo accounts have them)."""
    from engine.runtime import Actor
    from engine.users import get_user
    from webui.engine_ext import get_engine

    with app.app_context():
        user = get_user(db.session, username)
        assert user is not None
        inst = get_engine().start(db.session, key, data, Actor(username, user.role_ids))
        db.session.commit()
        return inst.id


def open_task(app: Flask, instance_id: int, name: str) -> str:
    """Return the id of the open task called name (the BPMN element id) of an instance."""
    from sqlalchemy import select

    from engine.store.models import TaskRow

    with app.app_context():
        task_id = db.session.scalar(select(TaskRow.id).where(
            TaskRow.instance_id == instance_id, TaskRow.element_id == name, TaskRow.status == "open"))
        assert task_id is not None, f"no open task {name} in instance {instance_id}"
        return task_id


def build_csrf_app(db_url: str, translations: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """Return an app as in production (CSRF on) with demo users and the shipped processes."""
    app = make_app(db_url, translations, tmp_path, monkeypatch, WTF_CSRF_ENABLED=True)
    with app.app_context():
        create_schema(db.engine)
        ensure_demo_users(db.session)
        db.session.commit()
    deploy_processes(app)
    return app


@pytest.fixture
def web(db_url: str, compiled_translations: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """Yield the CSRF-protected app with processes deployed."""
    app = build_csrf_app(db_url, compiled_translations, tmp_path, monkeypatch)
    yield app
    db.dispose(app)
