"""Showing things to people: the active language's text, case numbers, local times, people's names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flask_babel import format_datetime

from engine.users import display_names

from .engine_ext import local_zone
from .i18n import current_locale

__all__ = ["case_number", "display_names", "local_time", "number_text", "person", "pick"]


def pick(zh: str | None, en: str | None) -> str:
    """Return the text for the active language, falling back to the other one."""
    return (zh or en or "") if current_locale() == "zh" else (en or zh or "")


def case_number(instance_id: int) -> str:
    """Return the case number printed on pages and paper records."""
    return f"{instance_id:06d}"


def local_time(value: datetime | str | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a moment in the calendar's time zone (Babel's default too); — when empty."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone())  # typed wall-clock times are the tower's
    return str(format_datetime(moment, fmt))


def person(names: Mapping[str, str], username: str | None) -> str:
    """Return 'Display name (username)', or just the username when they are the same."""
    if not username:
        return "—"
    shown = names.get(username, username)
    if shown == username:
        return username
    # Full-width brackets belong to Chinese text; English gets its own.
    return f"{shown}（{username}）" if _locale() == "zh" else f"{shown} ({username})"


def _locale() -> str:
    """Return the active locale, Chinese outside a request (CLI output, exports)."""
    try:
        return current_locale()
    except RuntimeError:
        return "zh"


def number_text(value: float | str) -> str:
    """Return a number as people write it: 3, not 3.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
