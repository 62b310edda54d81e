"""Business calendar: working days and hours behind the "24 working hours" deadlines (SPEC §2).

Minute-level deadlines run on the wall clock (`minutes_after`); working-hour deadlines skip
evenings, weekends and public holidays (`BusinessCalendar.add_working_hours`). Every method takes
timezone-aware datetimes and returns them in UTC; the calendar's own timezone only decides which
local day and hour a moment falls on.

Public holidays come from the `holidays` package when `country` is set. For China it also knows
the make-up working days (調休, weekend days worked to bridge a holiday) through its
`weekend_workdays` attribute, which is used here: 2026-09-20 (Sunday) and 2026-10-10 (Saturday)
are working days. The package only lists make-up days for years whose official State Council
schedule it carries; for other years add them via `makeup_workdays`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

CALENDAR_FILE_ENV = "BPM_CALENDAR_FILE"
# The one time-zone setting: forms, registers, figures and pages read the calendar's zone; this is
# only its default when no calendar file names another.
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_ZONE = ZoneInfo(DEFAULT_TIMEZONE)

# Ten years without a single working day means the configuration is broken; stop instead of hanging.
_MAX_IDLE_DAYS = 3660

_CONFIG_KEYS = ("timezone", "day_start", "day_end", "workdays", "holidays", "makeup_workdays", "country")
_CLOCK_RE = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Hours = float | int | timedelta


def _invalid(key: str, why: str) -> ValueError:
    """Build the error for a bad calendar setting, naming the setting."""
    return ValueError(f"calendar setting {key!r} is invalid: {why}")


def _utc(moment: datetime, name: str) -> datetime:
    """Return an aware datetime in UTC; refuse naive ones, whose zone would be a guess."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware, got naive {moment.isoformat()}; attach a tzinfo such as UTC"
        )
    return moment.astimezone(UTC)


def _duration(hours: Hours) -> timedelta:
    """Turn a number of hours (or a timedelta) into a non-negative timedelta."""
    if isinstance(hours, timedelta):
        span = hours
    elif isinstance(hours, bool) or not isinstance(hours, int | float):
        raise TypeError(f"hours must be a number or a timedelta, got {type(hours).__name__}")
    elif not math.isfinite(hours):
        raise ValueError(f"hours must be finite, got {hours}")
    else:
        span = timedelta(hours=hours)
    if span < timedelta(0):
        raise ValueError(f"hours must not be negative, got {hours}")
    return span


def _date_set(key: str, values: Iterable[date]) -> frozenset[date]:
    """Check that every entry is a plain date (a datetime would silently lose its time)."""
    days = frozenset(values)
    for day in days:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise _invalid(key, f"{day!r} is not a date")
    return days


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and hours of the front desk, in one timezone."""

    timezone: str = DEFAULT_TIMEZONE
    day_start: time = time(8, 0)
    day_end: time = time(19, 0)
    workdays: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday=0 … Sunday=6
    holidays: frozenset[date] = frozenset()  # extra days off, on top of the country's
    makeup_workdays: frozenset[date] = frozenset()  # 調休: days worked although off by weekday
    country: str | None = "CN"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    # Per-year (days off, make-up days) from the `holidays` package; building one is slow-ish.
    _country_years: dict[int, tuple[frozenset[date], frozenset[date]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        """Validate the settings and resolve the timezone once."""
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise _invalid("timezone", f"unknown time zone {self.timezone!r}") from exc
        object.__setattr__(self, "_zone", zone)
        for key in ("day_start", "day_end"):
            clock = getattr(self, key)
            if not isinstance(clock, time) or clock.tzinfo is not None:
                raise _invalid(key, f"{clock!r} is not a local time of day without timezone")
        if self.day_start >= self.day_end:
            raise _invalid("day_end", f"{self.day_end} is not after day_start {self.day_start}")
        workdays = frozenset(self.workdays)
        if not workdays:
            raise _invalid("workdays", "at least one weekday must be a working day")
        for weekday in workdays:
            if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise _invalid("workdays", f"{weekday!r} is not a weekday number 0 (Monday) … 6 (Sunday)")
        object.__setattr__(self, "workdays", workdays)
        extra_off = _date_set("holidays", self.holidays)
        extra_on = _date_set("makeup_workdays", self.makeup_workdays)
        both = sorted(extra_off & extra_on)
        if both:
            raise _invalid("makeup_workdays", f"{both[0].isoformat()} is also listed in holidays")
        object.__setattr__(self, "holidays", extra_off)
        object.__setattr__(self, "makeup_workdays", extra_on)
        if self.country is not None:
            if not isinstance(self.country, str):
                raise _invalid("country", f"{self.country!r} is not a country code")
            country = self.country.upper()
            try:
                holidays_lib.country_holidays(country, years=[])
            except NotImplementedError as exc:
                raise _invalid("country", f"the holidays package does not know {self.country!r}") from exc
            object.__setattr__(self, "country", country)

    @property
    def zone(self) -> ZoneInfo:
        """Return the calendar's time zone: the local time of forms, registers, figures and pages."""
        return self._zone

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from a parsed JSON object (see `load_calendar` for the format)."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"calendar configuration must be a JSON object, got {type(mapping).__name__}")
        unknown = sorted(set(mapping) - set(_CONFIG_KEYS))
        if unknown:
            raise _invalid(str(unknown[0]), f"unknown key; known keys are {', '.join(_CONFIG_KEYS)}")
        kwargs: dict[str, Any] = {}
        if "timezone" in mapping:
            kwargs["timezone"] = _config_str(mapping, "timezone")
        for key in ("day_start", "day_end"):
            if key in mapping:
                kwargs[key] = _config_clock(mapping, key)
        if "workdays" in mapping:
            kwargs["workdays"] = _config_workdays(mapping)
        for key in ("holidays", "makeup_workdays"):
            if key in mapping:
                kwargs[key] = _config_dates(mapping, key)
        if "country" in mapping:
            kwargs["country"] = None if mapping["country"] is None else _config_str(mapping, "country")
        return cls(**kwargs)

    def is_working_day(self, d: date) -> bool:
        """Tell whether the local calendar day `d` has working hours."""
        if isinstance(d, datetime):
            raise TypeError("is_working_day takes a date; use is_working_time for a moment")
        # Explicit configuration wins over the country's table, so an admin can correct it.
        if d in self.makeup_workdays:
            return True
        if d in self.holidays:
            return False
        country_off, country_on = self._country_days(d.year)
        if d in country_off:
            return False
        return d in country_on or d.weekday() in self.workdays

    def is_working_time(self, at: datetime) -> bool:
        """Tell whether `at` falls in working hours (start inclusive, end exclusive)."""
        moment = _utc(at, "at")
        day = moment.astimezone(self._zone).date()
        if not self.is_working_day(day):
            return False
        start, end = self._window(day)
        return start <= moment < end

    def next_working_start(self, at: datetime) -> datetime:
        """Return `at` if it is working time, else the moment working time next begins (UTC)."""
        start, _end = next(self._windows_from(_utc(at, "at")))
        return start

    def working_day_end(self, at: datetime) -> datetime:
        """Return the end (UTC) of the working day holding `at` (the next one's when `at` is after hours)."""
        _start, end = next(self._windows_from(_utc(at, "at")))
        return end

    def add_working_hours(self, start: datetime, hours: Hours) -> datetime:
        """Return the moment (UTC) `hours` working hours after `start`."""
        remaining = _duration(hours)
        for begin, end in self._windows_from(_utc(start, "start")):
            # `<=` keeps a deadline that uses up the day exactly at day_end, not next morning.
            if remaining <= end - begin:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("unreachable: _windows_from never ends")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Return the working time from `a` to `b`; zero when `b` is not after `a`."""
        first, last = _utc(a, "a"), _utc(b, "b")
        total = timedelta(0)
        if last <= first:
            return total
        for begin, end in self._windows_from(first):
            if begin >= last:
                break
            total += min(end, last) - begin
        return total

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """Return the UTC start and end of the working hours on local `day`."""
        start = datetime.combine(day, self.day_start, tzinfo=self._zone).astimezone(UTC)
        end = datetime.combine(day, self.day_end, tzinfo=self._zone).astimezone(UTC)
        return start, end

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the working intervals from `moment` on, the first one clipped to begin at `moment`."""
        # Day-stepping keeps 10 000 working hours to ~1 300 iterations; never step minute by minute.
        day = moment.astimezone(self._zone).date()
        idle_days = 0
        while True:
            if self.is_working_day(day):
                idle_days = 0
                start, end = self._window(day)
                if end > moment:
                    yield max(start, moment), end
            else:
                idle_days += 1
                if idle_days > _MAX_IDLE_DAYS:
                    raise ValueError(f"calendar has no working day in the {_MAX_IDLE_DAYS} days before {day}")
            day += timedelta(days=1)

    def _country_days(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        """Return the country's days off and make-up working days in `year`."""
        cached = self._country_years.get(year)
        if cached is not None:
            return cached
        if self.country is None:
            cached = (frozenset(), frozenset())
        else:
            table = holidays_lib.country_holidays(self.country, years=year)
            # weekend_workdays also carries a few fixed entries from other years; keep only `year`.
            cached = (
                frozenset(day for day in table if day.year == year),
                frozenset(day for day in table.weekend_workdays if day.year == year),
            )
        self._country_years[year] = cached
        return cached


def _config_str(mapping: Mapping[str, Any], key: str) -> str:
    """Read a non-empty string setting."""
    value = mapping[key]
    if not isinstance(value, str) or not value.strip():
        raise _invalid(key, f"expected a non-empty string, got {value!r}")
    return value.strip()


def _config_clock(mapping: Mapping[str, Any], key: str) -> time:
    """Read an "HH:MM" (or "HH:MM:SS") local time of day."""
    value = mapping[key]
    if not isinstance(value, str) or not _CLOCK_RE.match(value):
        raise _invalid(key, f'expected a time of day like "08:00", got {value!r}')
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise _invalid(key, f"{value!r} is not a valid time of day") from exc


def _config_workdays(mapping: Mapping[str, Any]) -> frozenset[int]:
    """Read ISO weekday numbers (1 = Monday … 7 = Sunday) as date.weekday() numbers."""
    value = mapping["workdays"]
    if not isinstance(value, list) or not value:
        raise _invalid("workdays", f"expected a non-empty list of ISO weekdays 1..7, got {value!r}")
    for weekday in value:
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 1 <= weekday <= 7:
            raise _invalid("workdays", f"{weekday!r} is not an ISO weekday 1 (Monday) … 7 (Sunday)")
    return frozenset(weekday - 1 for weekday in value)


def _config_dates(mapping: Mapping[str, Any], key: str) -> frozenset[date]:
    """Read a list of "YYYY-MM-DD" dates."""
    value = mapping[key]
    if not isinstance(value, list):
        raise _invalid(key, f'expected a list of dates like "2026-10-01", got {value!r}')
    days: set[date] = set()
    for item in value:
        if not isinstance(item, str) or not _DATE_RE.match(item):
            raise _invalid(key, f'{item!r} is not a date like "2026-10-01"')
        try:
            days.add(date.fromisoformat(item))
        except ValueError as exc:
            raise _invalid(key, f"{item!r} is not a valid date") from exc
    return frozenset(days)


def load_calendar(path: str | None = None) -> BusinessCalendar:
    """Load the calendar from a JSON file, `$BPM_CALENDAR_FILE`, or the defaults.

    The file holds one object; every key is optional and defaults to the constructor's value::

        {"timezone": "Asia/Shanghai", "day_start": "08:00", "day_end": "19:00",
         "workdays": [1, 2, 3, 4, 5], "holidays": ["2026-10-08"],
         "makeup_workdays": ["2026-10-10"], "country": "CN"}

    `workdays` are ISO weekday numbers (1 = Monday … 7 = Sunday); `country` may be null for no
    public holidays beyond `holidays`. A missing file raises OSError; bad content raises ValueError.
    """
    if path is None:
        path = os.environ.get(CALENDAR_FILE_ENV) or None
    if path is None:
        return BusinessCalendar()
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise ValueError(f"calendar file {path}: not valid JSON ({exc})") from exc
    try:
        return BusinessCalendar.from_config(data)
    except ValueError as exc:
        raise ValueError(f"calendar file {path}: {exc}") from exc


def working_hours_after(calendar: BusinessCalendar, now: datetime, hours: Hours) -> str:
    """Return the ISO-8601 UTC moment `hours` working hours after `now`, for timer expressions."""
    return calendar.add_working_hours(now, hours).isoformat()


def minutes_after(now: datetime, minutes: float | int) -> str:
    """Return the ISO-8601 UTC moment `minutes` wall-clock minutes after `now`, for timer expressions."""
    return (_utc(now, "now") + timedelta(minutes=minutes)).isoformat()


def parse_moment(value: datetime | str) -> datetime:
    """Read a timer anchor (a datetime or an ISO string such as `started_at`) as an aware UTC moment."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"a deadline anchor must be an ISO date-time, got {value!r}") from exc
    return _utc(value, "the deadline anchor")
