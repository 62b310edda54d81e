"""The engine as the web app sees it: one Engine per app, the signed-in user as an Actor."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, current_app

from engine.calendar import load_calendar
from engine.runtime import Actor, Engine

from .auth import current_actor

_KEY = "bpm_engine"


def init_engine(app: Flask) -> None:
    """Create the app's engine (business calendar from BPM_CALENDAR_FILE or defaults)."""
    app.extensions[_KEY] = Engine(calendar=load_calendar(app.config.get("BPM_CALENDAR_FILE")))


def get_engine() -> Engine:
    """Return the current app's engine."""
    engine: Engine = current_app.extensions[_KEY]
    return engine


def actor() -> Actor:
    """Return the signed-in user as the engine's Actor (401 when nobody is signed in)."""
    who = current_actor()
    return Actor(who.username, frozenset(who.roles))


def now() -> datetime:
    """Return the engine clock's current time (tests may set a fixed clock)."""
    return get_engine().clock().astimezone(UTC)
