"""The PropertyFlow web app: create_app() builds it from defaults, instance config, env and tests."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from department.domain import register as register_department
from engine import domain
from engine.store.db import DATABASE_URL_ENV, default_database_url

from .extensions import babel, csrf, db, login_manager

SECRET_KEY_ENV = "BPM_SECRET_KEY"
COOKIE_SECURE_ENV = "BPM_COOKIE_SECURE"
INSTANCE_PATH_ENV = "BPM_INSTANCE_PATH"

DEFAULTS: dict[str, Any] = {
    "BPM_DATABASE_URL": None,  # None: BPM_DATABASE_URL from the env, else instance/bpm.sqlite
    "SESSION_COOKIE_NAME": "pf_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,  # True behind HTTPS: set BPM_COOKIE_SECURE=1
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    # Our before_request hook calls csrf.protect() so script API calls with Basic auth can be exempt.
    "WTF_CSRF_CHECK_DEFAULT": False,
    # A form left open on a front-desk tablet must still submit; the token is bound to the session.
    "WTF_CSRF_TIME_LIMIT": None,
    "BABEL_DEFAULT_LOCALE": "zh",
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,  # BPMN files and form posts are small
}


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def _persisted_secret_key(instance_path: str) -> str:
    """Read instance/secret_key, creating it (mode 600) with a random key on first start."""
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    # O_EXCL: when two processes start at once, exactly one writes and both read the same key.
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Layer the configuration: defaults < instance/config.py < environment < test_config."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    if os.environ.get(DATABASE_URL_ENV):
        app.config["BPM_DATABASE_URL"] = os.environ[DATABASE_URL_ENV]
    if os.environ.get(SECRET_KEY_ENV):
        app.config["SECRET_KEY"] = os.environ[SECRET_KEY_ENV]
    secure = _env_flag(COOKIE_SECURE_ENV)
    if secure is not None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = secure
    if test_config:
        app.config.update(test_config)
    if not app.config.get("BPM_DATABASE_URL"):
        app.config["BPM_DATABASE_URL"] = default_database_url(app.instance_path)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _persisted_secret_key(app.instance_path)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the web app; test_config overrides everything else (e.g. a temporary database)."""
    register_department()  # the engine learns the roles, service functions and registers it serves
    app = Flask(__name__, instance_relative_config=True,
                instance_path=os.environ.get(INSTANCE_PATH_ENV) or None)
    _configure(app, test_config)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    from . import auth, engine_ext, errors, home, i18n, security, text_guard

    db.init_app(app)
    engine_ext.init_engine(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    babel.init_app(app, locale_selector=i18n.select_locale)
    security.init_security(app)
    text_guard.init_text_guard(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    from . import inbox, notes_pages, notifications, records, start, tasks, tokens_page

    for staff_pages in (inbox, tasks, start, records, notes_pages, notifications, tokens_page):
        app.register_blueprint(staff_pages.bp)
    from . import (
        figures,
        instances,
        key_pages,
        models_editor,
        quality_pages,
        registers_pages,
        version_operations,
    )

    for admin_pages in (instances, models_editor, figures, registers_pages, quality_pages, key_pages,
                        version_operations):
        app.register_blueprint(admin_pages.bp)
    from .api import init_api

    init_api(app)
    _register_template_helpers(app)
    # Last, so these handlers win over any an extension registered app-wide (e.g. flask-smorest).
    errors.register_error_handlers(app)
    return app


def _register_template_helpers(app: Flask) -> None:
    """Expose navigation, languages and role titles to every template."""
    from .i18n import HTML_LANG, LOCALE_LABELS, SUPPORTED_LOCALES, current_locale, localized_role
    from .nav import visible_nav_items

    @app.context_processor
    def _layout_context() -> dict[str, Any]:
        locale = current_locale()
        return {
            "nav_items": visible_nav_items,
            "current_locale": locale,
            "html_lang": HTML_LANG.get(locale, locale),
            "locales": [(code, LOCALE_LABELS[code]) for code in SUPPORTED_LOCALES],
            "role_title": localized_role,
            "all_roles": list(domain.current().role_ids),
        }
