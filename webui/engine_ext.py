"""The engine as the web app sees it: one Engine per app, the signed-in user as an Actor."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request

from engine.actor import Actor
from engine.calendar import load_calendar
from engine.runtime import Engine

from .auth import current_actor

_KEY = "bpm_engine"


def init_engine(app: Flask) -> None:
    """Create the app's engine (business calendar from BPM_CALENDAR_FILE or defaults)."""
    calendar = load_calendar(app.config.get("BPM_CALENDAR_FILE"))
    app.extensions[_KEY] = Engine(calendar=calendar)
    # Babel formats in the calendar's zone too: set once here, before babel.init_app reads it.
    app.config["BABEL_DEFAULT_TIMEZONE"] = calendar.timezone


def get_engine() -> Engine:
    """Return the current app's engine."""
    engine: Engine = current_app.extensions[_KEY]
    return engine


def local_zone() -> ZoneInfo:
    """Return the one local time zone of pages, forms, registers and figures: the business calendar's."""
    return get_engine().calendar.zone


def actor() -> Actor:
    """Return the signed-in user as the engine's Actor (401 when nobody is signed in)."""
    who = current_actor()
    return Actor(who.username, frozenset(who.roles))


def if_match() -> list[str] | None:
    """Return the request's If-Match ETags for Engine.deploy ("*" for any), None without the header."""
    if "If-Match" not in request.headers:
        return None
    # Strong comparison (RFC 9110): a weak tag never matches a version.
    return ["*"] if request.if_match.star_tag else list(request.if_match)


def now() -> datetime:
    """Return the engine clock's current time (tests may set a fixed clock)."""
    return get_engine().clock().astimezone(UTC)
