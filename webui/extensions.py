"""Extension objects shared by the blueprints, bound to the app late in create_app()."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.store.db import make_engine, make_session_factory

_EXT_KEY = "bpm_db"
_G_KEY = "_bpm_session"


@dataclass
class _DbState:
    engine: Engine
    factory: sessionmaker[Session]


class Database:
    """Engine + one plain SQLAlchemy Session per app context, closed (rolled back if uncommitted) at teardown.

    We keep engine.db's engine (SQLite pragmas, BEGIN IMMEDIATE) and plain sessions instead of
    Flask-SQLAlchemy's scoped session, so views, the CLI and the worker hand the engine the same
    kind of Session. Views own the unit of work: they call ``db.session.commit()`` themselves;
    whatever is not committed when the request ends is rolled back.
    """

    def init_app(self, app: Flask) -> None:
        """Create the engine for the app's BPM_DATABASE_URL and register the teardown."""
        bind = make_engine(app.config["BPM_DATABASE_URL"], **app.config.get("BPM_ENGINE_OPTIONS", {}))
        app.extensions[_EXT_KEY] = _DbState(bind, make_session_factory(bind))
        app.teardown_appcontext(self._close_session)

    @staticmethod
    def _state() -> _DbState:
        state: _DbState = current_app.extensions[_EXT_KEY]
        return state

    @property
    def engine(self) -> Engine:
        """Return the current app's SQLAlchemy engine."""
        return self._state().engine

    @property
    def session(self) -> Session:
        """Return this app context's session (one per request or CLI command), opening it on first use."""
        session: Session | None = g.get(_G_KEY)
        if session is None:
            session = self._state().factory()
            setattr(g, _G_KEY, session)
        return session

    def new_session(self) -> Session:
        """Open an independent session (e.g. for a background thread); the caller closes it."""
        return self._state().factory()

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop(_G_KEY, None)
        if session is not None:
            # close() rolls back anything left uncommitted: an exception or a forgotten commit
            # must never leave half a unit of work behind.
            session.close()

    def dispose(self, app: Flask) -> None:
        """Release the app's pooled connections (tests, shutdown)."""
        state: _DbState | None = app.extensions.get(_EXT_KEY)
        if state is not None:
            state.engine.dispose()


db = Database()
login_manager = LoginManager()
babel = Babel()
csrf = CSRFProtect()
