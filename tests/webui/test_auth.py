"""Sign-in, sign-out, throttling, role checks and HTTP Basic for the API."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from flask import Flask, Response, jsonify
from flask.testing import FlaskClient

from engine.users import CLIENT_MAX_FAILURES, get_user, set_password
from webui.auth import current_actor, roles_required
from webui.extensions import db

from .conftest import login


def _basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _add_probe_routes(app: Flask) -> None:
    """Add views guarded by roles_required, as later blueprints will."""

    @app.get("/probe/foreman")
    @roles_required("cs_foreman", "cs_supervisor")
    def probe_foreman() -> str:
        username, roles = current_actor()
        return f"{username}:{','.join(sorted(roles))}"

    @app.get("/api/v1/probe")
    @roles_required()
    def probe_api() -> Response:
        actor = current_actor()
        return jsonify(username=actor.username, roles=sorted(actor.roles))


def test_login_page_shows_the_form(client: FlaskClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="username"' in html and 'name="password"' in html and 'type="password"' in html


def test_anonymous_home_goes_to_login(client: FlaskClient) -> None:
    assert client.get("/").headers["Location"] == "/login"


def test_login_succeeds_and_home_greets_the_user(client: FlaskClient) -> None:
    response = login(client, "cs_assistant")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = client.get("/", follow_redirects=True).get_data(as_text=True)  # home sends staff to the inbox
    assert "客服助理" in html and "退出登录" in html


def test_login_is_case_insensitive_on_username(client: FlaskClient) -> None:
    assert login(client, "CS_Assistant", "demo-cs_assistant").status_code == 302


def test_login_failure_shows_a_message_and_stays_anonymous(client: FlaskClient) -> None:
    response = login(client, "cs_assistant", "not-the-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/").headers["Location"] == "/login"


def test_unknown_user_gets_the_same_message(client: FlaskClient) -> None:
    response = login(client, "nobody", "whatever-password")
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_login_follows_a_local_next(client: FlaskClient) -> None:
    assert login(client, "admin", next_url="/instances?page=2").headers["Location"] == "/instances?page=2"


def test_login_ignores_a_foreign_next(client: FlaskClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = login(client, "admin", next_url=target)
        assert response.headers["Location"] == "/", target
        client.post("/logout")


def test_five_failures_lock_the_account_for_15_minutes(app: Flask, client: FlaskClient) -> None:
    for _ in range(4):
        assert "用户名或密码错误" in login(client, "cs_foreman", "wrong-password").get_data(as_text=True)
    locked = login(client, "cs_foreman", "wrong-password").get_data(as_text=True)
    assert "登录失败次数过多" in locked
    # Even the right password is refused while locked.
    assert "登录失败次数过多" in login(client, "cs_foreman").get_data(as_text=True)
    with app.app_context():
        user = get_user(db.session, "cs_foreman")
        assert user is not None and user.locked_until is not None
        remaining = user.locked_until - datetime.now(UTC)
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the 15 minutes have passed
        db.session.commit()
    assert login(client, "cs_foreman").status_code == 302


def test_other_accounts_are_not_locked(client: FlaskClient) -> None:
    for _ in range(5):
        login(client, "cs_foreman", "wrong-password")
    assert login(client, "cs_foreman2").status_code == 302


def test_logout_requires_post(client: FlaskClient) -> None:
    login(client, "cs_assistant")
    assert client.get("/logout").status_code == 405
    assert client.get("/inbox").status_code == 200  # still signed in
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").headers["Location"] == "/login"


def test_deactivated_user_cannot_sign_in_and_is_signed_out(app: Flask, client: FlaskClient) -> None:
    login(client, "cleaner")
    with app.app_context():
        user = get_user(db.session, "cleaner")
        assert user is not None
        user.active = False
        db.session.commit()
    assert client.get("/").headers["Location"] == "/login"
    assert login(client, "cleaner").status_code == 200


def test_password_change_signs_out_other_sessions(app: Flask, client: FlaskClient) -> None:
    login(client, "technician")
    with app.app_context():
        user = get_user(db.session, "technician")
        assert user is not None
        set_password(user, "a-brand-new-password")
        db.session.commit()
    assert client.get("/").headers["Location"] == "/login"


def test_roles_required_redirects_anonymous_to_login_with_next(app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    response = client.get("/probe/foreman")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/probe/foreman"


def test_roles_required_refuses_other_roles(app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    login(client, "cleaner")
    response = client.get("/probe/foreman")
    assert response.status_code == 403
    assert "无权操作" in response.get_data(as_text=True)


def test_roles_required_lets_a_holder_through_and_current_actor_names_them(
        app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    login(client, "cs_supervisor")
    assert client.get("/probe/foreman").get_data(as_text=True) == "cs_supervisor:cs_supervisor"


def test_api_without_credentials_is_401_json(app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    response = client.get("/api/v1/probe")
    assert response.status_code == 401
    assert response.json is not None and response.json["error"] == "unauthorized"


def test_api_accepts_http_basic(app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    response = client.get("/api/v1/probe", headers=_basic("process_owner", "demo-process_owner"))
    assert response.status_code == 200
    assert response.json == {"username": "process_owner", "roles": ["process_owner"]}


def test_api_basic_failures_count_towards_the_lock(app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    for _ in range(5):
        assert client.get("/api/v1/probe", headers=_basic("admin", "wrong")).status_code == 401
    assert client.get("/api/v1/probe", headers=_basic("admin", "demo-admin")).status_code == 401


def test_api_uses_the_browser_session_too(app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    login(client, "admin")
    assert client.get("/api/v1/probe").json == {"username": "admin", "roles": ["admin"]}


def test_roles_required_rejects_unknown_role_names() -> None:
    try:
        roles_required("janitor")
    except ValueError as exc:
        assert "janitor" in str(exc)
    else:
        raise AssertionError("unknown role accepted")


def _login_from(client: FlaskClient, address: str, username: str, password: str) -> str:
    response = client.post("/login", data={"username": username, "password": password},
                           environ_overrides={"REMOTE_ADDR": address})
    return f"{response.status_code} {response.get_data(as_text=True)}"


def test_a_lock_caused_from_one_address_does_not_shut_the_user_out_elsewhere(client: FlaskClient) -> None:
    for _ in range(6):
        _login_from(client, "203.0.113.9", "admin", "wrong-password")
    assert "登录失败次数过多" in _login_from(client, "203.0.113.9", "admin", "demo-admin")
    assert _login_from(client, "127.0.0.1", "admin", "demo-admin").startswith("302")


def test_unknown_and_locked_usernames_get_the_same_answer(client: FlaskClient) -> None:
    for username in ("cs_foreman", "no_such_user"):
        answers = {_login_from(client, "203.0.113.9", username, "wrong-password").split(" ", 1)[0]
                   for _ in range(4)}
        assert answers == {"200"}
        assert "登录失败次数过多" in _login_from(client, "203.0.113.9", username, "wrong-password")


def test_an_address_with_too_many_failures_is_refused_before_any_account_counts(
        app: Flask, client: FlaskClient) -> None:
    _add_probe_routes(app)
    for n in range(CLIENT_MAX_FAILURES):
        _login_from(client, "203.0.113.9", f"guess{n}", "wrong-password")
    assert _login_from(client, "203.0.113.9", "admin", "demo-admin").startswith("429")
    api = client.get("/api/v1/probe", headers=_basic("admin", "wrong"),
                     environ_overrides={"REMOTE_ADDR": "203.0.113.9"})
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0
    assert "too many failed sign-ins" in api.json["message"]  # type: ignore[index]
    with app.app_context():
        user = get_user(db.session, "admin")
        assert user is not None and user.failed_logins == 0
    assert login(client, "admin").status_code == 302  # other addresses are not throttled


def test_a_session_cookie_copied_before_logout_no_longer_signs_in(app: Flask, client: FlaskClient) -> None:
    login(client, "cs_assistant")
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None and client.get("/inbox").status_code == 200
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    assert thief.get("/inbox").headers["Location"].startswith("/login")
    assert login(client, "cs_assistant").status_code == 302  # signing in again works
    assert client.get("/inbox").status_code == 200
