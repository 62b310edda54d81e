"""Showing things to people: the active language's text, case numbers, local times, people's names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import format_datetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import User

from .i18n import current_locale

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def pick(zh: str | None, en: str | None) -> str:
    """Return the text for the active language, falling back to the other one."""
    return (zh or en or "") if current_locale() == "zh" else (en or zh or "")


def case_number(instance_id: int) -> str:
    """Return the case number printed on pages and paper records."""
    return f"{instance_id:06d}"


def local_time(value: datetime | str | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a moment in the tower's timezone (Asia/Shanghai, Babel's default); — when empty."""
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
        moment = moment.replace(tzinfo=LOCAL_TZ)  # typed wall-clock times are the tower's
    return str(format_datetime(moment, fmt))


def display_names(session: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """Return username → display name for the given users (unknown users map to themselves)."""
    wanted = sorted({u for u in usernames if u})
    if not wanted:
        return {}
    found = dict(session.execute(select(User.username, User.display_name)
                                 .where(User.username.in_(wanted))).all())
    return {u: found.get(u) or u for u in wanted}


def person(names: Mapping[str, str], username: str | None) -> str:
    """Return 'Display name (username)', or just the username when they are the same."""
    if not username:
        return "—"
    shown = names.get(username, username)
    return username if shown == username else f"{shown}（{username}）"


def number_text(value: float | str) -> str:
    """Return a number as people write it: 3, not 3.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
