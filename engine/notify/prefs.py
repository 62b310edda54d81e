"""Per-user notification preferences: muted events per channel, e-mail address, quiet hours."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidData
from engine.notify.events import EVENTS
from engine.notify.models import Preference

CHANNELS = ("app", "email")
# Without a choice of their own people are not mailed about every colleague's claim.
DEFAULT_MUTED: dict[str, list[str]] = {"app": [], "email": ["task_claimed"]}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def preferences(session: Session, usernames: list[str]) -> dict[str, Preference]:
    """Return the stored preferences of these users (those without any are left out)."""
    if not usernames:
        return {}
    found = session.scalars(select(Preference).where(Preference.username.in_(usernames)))
    return {p.username: p for p in found}


def muted(pref: Preference | None, channel: str) -> set[str]:
    """Return the events a user muted on a channel."""
    if pref is None:
        return set(DEFAULT_MUTED.get(channel, []))
    return set((pref.muted or {}).get(channel, DEFAULT_MUTED.get(channel, [])))


def quiet_until(pref: Preference | None, moment: datetime, zone: ZoneInfo) -> datetime | None:
    """Return when a user's quiet hours around `moment` end, or None when `moment` is not in them."""
    if pref is None or not pref.quiet_start or not pref.quiet_end:
        return None
    local = moment.astimezone(zone)
    start, end = (time.fromisoformat(pref.quiet_start), time.fromisoformat(pref.quiet_end))
    now = local.timetz().replace(tzinfo=None)
    if start == end:
        return None
    overnight = start > end  # e.g. 22:00–07:00
    inside = (now >= start or now < end) if overnight else (start <= now < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=zone)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def save(session: Session, username: str, data: dict[str, Any]) -> Preference:
    """Validate and store a user's preferences; raise InvalidData naming each bad field."""
    errors: dict[str, list[str]] = {}
    email = str(data.get("email") or "").strip()
    if email and ("@" not in email or len(email) > 320 or any(c.isspace() for c in email)):
        errors["email"] = [f"{email!r} is not an e-mail address"]
    quiet: dict[str, str | None] = {}
    for key in ("quiet_start", "quiet_end"):
        value = str(data.get(key) or "").strip()
        if value and not _CLOCK.match(value):
            errors[key] = [f"{value!r} is not a time of day like 22:00"]
        quiet[key] = value or None
    if bool(quiet["quiet_start"]) != bool(quiet["quiet_end"]) and not errors:
        missing = "quiet_end" if quiet["quiet_start"] else "quiet_start"
        errors[missing] = ["quiet hours need a start and an end"]
    mutes: dict[str, list[str]] = {}
    for channel in CHANNELS:
        names = list(data.get("muted", {}).get(channel, DEFAULT_MUTED[channel]))
        unknown = [n for n in names if n not in EVENTS]
        if unknown:
            errors[f"muted.{channel}"] = [f"unknown event(s): {', '.join(unknown)}"]
        mutes[channel] = sorted(set(names))
    if errors:
        raise InvalidData("notification preferences refused", errors)
    pref = session.get(Preference, username)
    if pref is None:
        pref = Preference(username=username)
        session.add(pref)
    pref.email, pref.muted = email, mutes
    pref.email_enabled = bool(data.get("email_enabled", True))
    pref.quiet_start, pref.quiet_end = quiet["quiet_start"], quiet["quiet_end"]
    return pref
