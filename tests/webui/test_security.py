"""CSRF, security headers, cookies, error pages, navigation by role, vendor files."""

from __future__ import annotations

import base64
import stat
import threading
import urllib.request
from pathlib import Path

import pytest
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient

from engine.store.db import create_schema
from engine.users import ensure_demo_users
from webui.extensions import db

from .conftest import csrf_token, login, make_app

VENDOR = Path(__file__).resolve().parents[2] / "webui" / "static" / "vendor"


@pytest.fixture
def csrf_app(db_url: str, compiled_translations: Path, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Flask:
    """Return an app with CSRF protection on, as in production."""
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch, WTF_CSRF_ENABLED=True)
    with app.app_context():
        create_schema(db.engine)
        ensure_demo_users(db.session)
        db.session.commit()

    @app.post("/api/v1/echo")
    def echo() -> Response:
        return jsonify(ok=True)

    return app


def test_login_without_csrf_token_is_refused(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": "demo-admin"})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)


def test_login_with_csrf_token_works(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    token = csrf_token(client)
    response = client.post("/login", data={"username": "admin", "password": "demo-admin",
                                           "csrf_token": token})
    assert response.status_code == 302


def test_logout_and_language_need_the_token(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "admin", "password": "demo-admin", "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert client.post("/language/en").status_code == 400
    token = csrf_token(client, "/inbox")
    assert client.post("/language/en", data={"csrf_token": token}).status_code == 302


def test_browser_api_calls_send_the_token_in_a_header(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "admin", "password": "demo-admin", "csrf_token": token})
    token = csrf_token(client, "/inbox")  # signing in starts a new session, with a new token
    assert client.post("/api/v1/echo", json={}).status_code == 400
    assert client.post("/api/v1/echo", json={}, headers={"X-CSRFToken": token}).status_code == 200


def test_scripts_with_basic_auth_and_json_need_no_token(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    basic = {"Authorization": "Basic " + base64.b64encode(b"admin:demo-admin").decode()}
    assert client.post("/api/v1/echo", json={}, headers=basic).status_code == 200
    # A form body is what a cross-site page could forge: the token is required again.
    response = client.post("/api/v1/echo", data={"x": "1"}, headers=basic)
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_request"


def test_csrf_failure_on_the_api_is_json(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    client.get("/login").close()  # a browser with a session cookie (calls with no credentials at all get 401)
    response = client.post("/api/v1/echo", json={})
    assert response.status_code == 400 and response.json is not None
    assert set(response.json) == {"error", "message", "fields"}


@pytest.mark.parametrize("path", ["/login", "/no-such-page", "/static/css/app.css", "/api/v1/none"])
def test_security_headers_on_every_response(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    response.close()
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "style-src 'self' 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no CDN anywhere
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_pages_are_not_cached(client: FlaskClient) -> None:
    assert client.get("/login").headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(client: FlaskClient) -> None:
    cookie = login(client, "admin").headers["Set-Cookie"]
    assert "pf_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_from_the_environment(db_url: str, compiled_translations: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPM_COOKIE_SECURE", "1")
    app = make_app(db_url, compiled_translations, tmp_path, monkeypatch)
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_secret_key_is_generated_once_and_kept(db_url: str, compiled_translations: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_app(db_url, compiled_translations, tmp_path, monkeypatch, SECRET_KEY=None)
    second = make_app(db_url, compiled_translations, tmp_path, monkeypatch, SECRET_KEY=None)
    key_file = tmp_path / "instance" / "secret_key"
    assert len(first.config["SECRET_KEY"]) == 64
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text()
    assert key_file.stat().st_mode & 0o077 == 0


def test_404_page_is_html_in_chinese(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "页面不存在" in response.get_data(as_text=True)


def test_api_errors_are_json_in_the_contract_shape(client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json is not None and response.json["error"] == "not_found"
    assert set(response.json) == {"error", "message", "fields"}


def test_405_keeps_the_allow_header(client: FlaskClient) -> None:
    response = client.get("/logout")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


def test_unhandled_errors_give_a_500_page_and_json(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/api/v1/boom")
    def api_boom() -> str:
        raise RuntimeError("boom")

    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500 and "出错了" in page.get_data(as_text=True)
    assert "RuntimeError" not in page.get_data(as_text=True)
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and api.json == {"error": "internal_server_error",
                                                   "message": "internal error", "fields": {}}


def _add_area_routes(app: Flask) -> None:
    for path in ("/inbox", "/start", "/instances", "/models", "/figures", "/registers"):
        app.add_url_rule(path, endpoint=f"area{path.replace('/', '_')}", view_func=lambda: "area")


def test_navigation_shows_only_allowed_areas(app: Flask, client: FlaskClient) -> None:
    _add_area_routes(app)
    login(client, "cleaner")
    html = client.get("/no-such-page").get_data(as_text=True)
    # Cases are everyone's: a cleaner finds the cases they started or work on.
    assert 'href="/inbox"' in html and 'href="/start"' in html and 'href="/instances"' in html
    for hidden in ("/models", "/figures", "/registers"):
        assert f'href="{hidden}"' not in html
    client.post("/logout")
    login(client, "process_owner")
    html = client.get("/no-such-page").get_data(as_text=True)
    assert 'href="/models"' in html and 'href="/instances"' in html and 'href="/registers"' not in html


def test_navigation_hides_areas_that_do_not_exist_yet(client: FlaskClient) -> None:
    login(client, "admin")
    assert 'href="/models"' not in client.get("/").get_data(as_text=True)


def test_home_redirects_to_the_inbox_once_it_exists(app: Flask, client: FlaskClient) -> None:
    _add_area_routes(app)
    login(client, "cs_assistant")
    assert client.get("/").headers["Location"] == "/inbox"


@pytest.mark.skipif(not (VENDOR / "bpmn-js").is_dir(), reason="run `make install` to copy vendor files")
def test_vendor_files_are_served_from_our_origin(client: FlaskClient) -> None:
    for path in ("bpmn-js/bpmn-viewer.production.min.js", "bpmn-js/bpmn-modeler.production.min.js",
                 "bpmn-js/assets/bpmn-js.css", "bpmn-js/assets/diagram-js.css",
                 "bpmn-js/assets/bpmn-font/css/bpmn.css", "chart.js/chart.umd.min.js"):
        response = client.get(f"/static/vendor/{path}")
        assert response.status_code == 200, path
        response.close()


def test_the_development_server_names_no_versions(app: Flask) -> None:
    from werkzeug.serving import make_server

    from webui.security import PlainServerHandler

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=PlainServerHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/login", timeout=30) as response:
            assert response.headers.get_all("Server") == ["PropertyFlow"]
    finally:
        server.shutdown()
        thread.join(timeout=30)


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from engine.store.db import make_engine

    bind = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    create_schema(bind)
    bind.dispose()
    made = [p for p in tmp_path.iterdir() if p.name.startswith("fresh.sqlite")]
    assert made and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in made), \
        {p.name: oct(p.stat().st_mode) for p in made}
