"""Languages: Chinese by default, English on request, remembered per session and per user."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.users import get_user
from webui.extensions import babel, db

from .conftest import login, make_app


def test_chinese_is_the_default(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in html
    for label in ("登录", "用户名", "密码", "物业服务流程"):
        assert label in html


def test_switching_to_english_is_kept_in_the_session(client: FlaskClient) -> None:
    response = client.post("/language/en", data={"next": "/login?next=/inbox"})
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/inbox"
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html and "Sign in" in html and "Username" in html
    assert "用户名" not in html


def test_language_switch_refuses_a_foreign_next(client: FlaskClient) -> None:
    response = client.post("/language/en", data={"next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_language_switch_needs_post_and_a_known_code(client: FlaskClient) -> None:
    assert client.get("/language/en").status_code == 405
    assert client.post("/language/fr").status_code == 404


def test_signed_in_choice_is_saved_on_the_user(app: Flask, client: FlaskClient) -> None:
    login(client, "cs_manager")
    client.post("/language/en", data={"next": "/"})
    with app.app_context():
        user = get_user(db.session, "cs_manager")
        assert user is not None and user.locale == "en"
    # A new browser (empty session) gets the user's language after signing in.
    other = app.test_client()
    login(other, "cs_manager")
    assert "My tasks" in other.get("/inbox").get_data(as_text=True)


def test_language_picked_on_the_login_page_becomes_the_users(app: Flask, client: FlaskClient) -> None:
    client.post("/language/en", data={"next": "/login"})
    login(client, "housekeeping")
    with app.app_context():
        user = get_user(db.session, "housekeeping")
        assert user is not None and user.locale == "en"


def test_role_titles_follow_the_language(client: FlaskClient) -> None:
    login(client, "engineering_dispatcher")
    assert "工程部调度" in client.get("/inbox").get_data(as_text=True)  # Simplified in the zh UI
    client.post("/language/en", data={"next": "/"})
    assert "Engineering dispatcher" in client.get("/inbox").get_data(as_text=True)


def test_app_falls_back_to_english_without_compiled_catalogs(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-translations"
    empty.mkdir()
    app = make_app(db_url, empty, tmp_path, monkeypatch)
    # Flask-Babel caches catalogs on the shared Babel object, across apps: start and end clean.
    babel.domain_instance.cache.clear()
    try:
        html = app.test_client().get("/login").get_data(as_text=True)
    finally:
        babel.domain_instance.cache.clear()
    assert "Sign in" in html and "Username" in html
