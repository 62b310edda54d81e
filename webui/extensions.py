"""Extension objects shared by the blueprints, bound to the app late in create_app()."""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from engine.store.db import Base, configure_engine, engine_options, make_session_factory


class Database(SQLAlchemy):
    """Flask-SQLAlchemy over the engine's own declarative base, with the product's engine settings.

    `db.session` is the app-context-scoped session: views hand `db.session()` to the engine and
    own the unit of work (they commit); Flask-SQLAlchemy removes the session at teardown, which
    rolls back whatever was left uncommitted.
    """

    def __init__(self) -> None:
        # expire_on_commit=False like the engine's own factory: views render rows read before the commit.
        super().__init__(model_class=Base, session_options={"expire_on_commit": False},
                         add_models_to_shell=False)

    def init_app(self, app: Flask) -> None:
        """Create the engine for the app's BPM_DATABASE_URL with the engine's connection settings."""
        url = app.config["BPM_DATABASE_URL"]
        app.config["SQLALCHEMY_DATABASE_URI"] = url
        options = app.config.get("BPM_ENGINE_OPTIONS", {})
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(url, **options)
        super().init_app(app)
        with app.app_context():
            configure_engine(self.engine)

    def new_session(self) -> Session:
        """Open an independent session on this app's engine (a CLI loop, a thread); the caller closes it."""
        return make_session_factory(self.engine)()

    def dispose(self, app: Flask) -> None:
        """Release the app's pooled connections (tests, shutdown)."""
        with app.app_context():
            for bind in self.engines.values():
                bind.dispose()


db = Database()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
