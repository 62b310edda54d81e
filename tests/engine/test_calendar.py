"""Behaviour of the business calendar behind working-hour deadlines."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import (
    CALENDAR_FILE_ENV,
    BusinessCalendar,
    load_calendar,
    minutes_after,
    working_hours_after,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()
PLAIN = BusinessCalendar(country=None)  # no public holidays: only weekends are off


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """Build a Shanghai wall-clock moment."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


# --- working days ---------------------------------------------------------------------------------


def test_default_calendar_is_shanghai_monday_to_friday_eight_to_seven() -> None:
    assert CAL.timezone == "Asia/Shanghai"
    assert (CAL.day_start, CAL.day_end) == (time(8), time(19))
    assert CAL.workdays == frozenset({0, 1, 2, 3, 4})
    assert CAL.country == "CN"


def test_weekend_is_not_a_working_day() -> None:
    assert CAL.is_working_day(date(2026, 6, 5))  # Friday
    assert not CAL.is_working_day(date(2026, 6, 6))
    assert not CAL.is_working_day(date(2026, 6, 7))
    assert CAL.is_working_day(date(2026, 6, 8))


def test_national_day_week_2026_is_off() -> None:
    for day in range(1, 8):
        assert not CAL.is_working_day(date(2026, 10, day)), f"2026-10-0{day} should be off"
    assert CAL.is_working_day(date(2026, 10, 8))


def test_chinese_makeup_workdays_come_from_holidays_package() -> None:
    assert CAL.is_working_day(date(2026, 9, 20))  # Sunday before National Day
    assert CAL.is_working_day(date(2026, 10, 10))  # Saturday after it
    assert not PLAIN.is_working_day(date(2026, 10, 10))


def test_without_country_public_holidays_are_working_days() -> None:
    assert PLAIN.is_working_day(date(2026, 10, 1))


def test_configured_extra_holiday_is_off() -> None:
    cal = BusinessCalendar(holidays=frozenset({date(2026, 6, 10)}))
    assert not cal.is_working_day(date(2026, 6, 10))
    assert cal.add_working_hours(sh(2026, 6, 9, 18), 2) == sh(2026, 6, 11, 9)


def test_configured_makeup_workday_counts() -> None:
    cal = BusinessCalendar(makeup_workdays=frozenset({date(2026, 6, 6)}))
    assert cal.is_working_day(date(2026, 6, 6))
    assert cal.add_working_hours(sh(2026, 6, 5, 18), 2) == sh(2026, 6, 6, 9)


def test_configured_makeup_workday_overrides_country_holiday() -> None:
    cal = BusinessCalendar(makeup_workdays=frozenset({date(2026, 10, 1)}))
    assert cal.is_working_day(date(2026, 10, 1))


def test_is_working_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError):
        CAL.is_working_day(sh(2026, 6, 1, 10))


# --- working time ---------------------------------------------------------------------------------


def test_working_time_includes_day_start_and_excludes_day_end() -> None:
    assert not CAL.is_working_time(sh(2026, 6, 1, 7, 59, 59))
    assert CAL.is_working_time(sh(2026, 6, 1, 8))
    assert CAL.is_working_time(sh(2026, 6, 1, 18, 59, 59))
    assert not CAL.is_working_time(sh(2026, 6, 1, 19))


def test_working_time_uses_shanghai_day_for_utc_input() -> None:
    # Friday 11:00 UTC is 19:00 in Shanghai: closed; Sunday 23:30 UTC is Monday 07:30 there.
    assert not CAL.is_working_time(datetime(2026, 6, 5, 11, tzinfo=UTC))
    assert CAL.is_working_time(datetime(2026, 6, 5, 10, 59, tzinfo=UTC))
    assert CAL.next_working_start(datetime(2026, 6, 7, 23, 30, tzinfo=UTC)) == sh(2026, 6, 8, 8)


def test_next_working_start_inside_hours_is_the_same_moment() -> None:
    assert CAL.next_working_start(sh(2026, 6, 1, 10, 17)) == sh(2026, 6, 1, 10, 17)


def test_next_working_start_before_opening_is_this_morning() -> None:
    assert CAL.next_working_start(sh(2026, 6, 1, 6)) == sh(2026, 6, 1, 8)


def test_next_working_start_friday_evening_is_monday_morning() -> None:
    assert CAL.next_working_start(sh(2026, 6, 5, 19)) == sh(2026, 6, 8, 8)


def test_next_working_start_skips_national_day_week() -> None:
    assert CAL.next_working_start(sh(2026, 9, 30, 19)) == sh(2026, 10, 8, 8)


# --- deadlines ------------------------------------------------------------------------------------


def test_twenty_four_working_hours_from_monday_ten_is_wednesday_noon() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 1, 10), 24) == sh(2026, 6, 3, 12)


def test_deadline_friday_evening_rolls_over_weekend() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 5, 20), 1) == sh(2026, 6, 8, 9)


def test_deadline_friday_afternoon_continues_monday() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 5, 17), 3) == sh(2026, 6, 8, 9)


def test_deadline_landing_on_day_end_stays_at_day_end() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 1, 18), 1) == sh(2026, 6, 1, 19)
    assert CAL.add_working_hours(sh(2026, 6, 1, 8), 11) == sh(2026, 6, 1, 19)


def test_start_before_opening_counts_from_day_start() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 1, 6, 30), 2) == sh(2026, 6, 1, 10)


def test_start_at_day_end_counts_from_next_morning() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 1, 19), 1) == sh(2026, 6, 2, 9)


def test_deadline_skips_chinese_public_holiday() -> None:
    assert CAL.add_working_hours(sh(2026, 9, 30, 18), 2) == sh(2026, 10, 8, 9)
    assert PLAIN.add_working_hours(sh(2026, 9, 30, 18), 2) == sh(2026, 10, 1, 9)


def test_fractional_hours_are_exact_to_the_second() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 1, 10), 1.5) == sh(2026, 6, 1, 11, 30)
    assert CAL.add_working_hours(sh(2026, 6, 1, 18, 50), 0.25) == sh(2026, 6, 2, 8, 5)
    assert CAL.add_working_hours(sh(2026, 6, 1, 10), 1 / 3600) == sh(2026, 6, 1, 10, 0, 1)
    assert CAL.add_working_hours(sh(2026, 6, 1, 10), timedelta(minutes=90, seconds=7)) == sh(
        2026, 6, 1, 11, 30, 7
    )


def test_zero_hours_is_the_next_working_start() -> None:
    assert CAL.add_working_hours(sh(2026, 6, 6, 12), 0) == sh(2026, 6, 8, 8)
    assert CAL.add_working_hours(sh(2026, 6, 1, 12), 0) == sh(2026, 6, 1, 12)


def test_results_are_utc_whatever_the_input_zone() -> None:
    from_utc = CAL.add_working_hours(datetime(2026, 6, 1, 2, tzinfo=UTC), 24)  # 10:00 Shanghai
    from_shanghai = CAL.add_working_hours(sh(2026, 6, 1, 10), 24)
    assert from_utc == from_shanghai == datetime(2026, 6, 3, 4, tzinfo=UTC)
    assert from_utc.tzinfo is UTC
    assert CAL.next_working_start(sh(2026, 6, 1, 10)).tzinfo is UTC


@pytest.mark.parametrize("hours", [-1, -0.5, timedelta(minutes=-1)])
def test_negative_hours_are_rejected(hours: Any) -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_hours(sh(2026, 6, 1, 10), hours)


@pytest.mark.parametrize("hours", [True, "24", None])
def test_hours_that_are_not_numbers_are_rejected(hours: Any) -> None:
    with pytest.raises(TypeError):
        CAL.add_working_hours(sh(2026, 6, 1, 10), hours)


def test_infinite_hours_are_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        CAL.add_working_hours(sh(2026, 6, 1, 10), float("inf"))


def test_ten_thousand_working_hours_step_by_day_not_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    days_looked_at: list[date] = []
    real = BusinessCalendar.is_working_day

    def counted(self: BusinessCalendar, d: date) -> bool:
        days_looked_at.append(d)
        return real(self, d)

    # Counting the days examined (not timing the call) proves the day-stepping on any machine.
    monkeypatch.setattr(BusinessCalendar, "is_working_day", counted)
    # 909 full 11-hour days = 181 weeks + 4 days, then the last hour on a Friday morning.
    assert PLAIN.add_working_hours(sh(2026, 6, 1, 8), 10_000) == sh(2029, 11, 23, 9)
    deadline = CAL.add_working_hours(sh(2026, 6, 1, 8), 10_000)
    assert CAL.working_time_between(sh(2026, 6, 1, 8), deadline) == timedelta(hours=10_000)
    # ~1 300 calendar days per computation, three computations; minute-stepping would be ~600 000 each.
    assert len(days_looked_at) < 3 * 1_500, len(days_looked_at)


def test_other_timezone_and_hours_are_honoured() -> None:
    london = BusinessCalendar(timezone="Europe/London", day_start=time(9), day_end=time(17), country="GB")
    summer = datetime(2026, 6, 1, 16, tzinfo=ZoneInfo("Europe/London"))
    assert london.add_working_hours(summer, 2) == datetime(2026, 6, 2, 9, tzinfo=UTC)  # 10:00 BST


# --- working time between -------------------------------------------------------------------------


def test_working_time_between_within_one_day() -> None:
    assert CAL.working_time_between(sh(2026, 6, 1, 9), sh(2026, 6, 1, 12, 30)) == timedelta(hours=3.5)


def test_working_time_between_skips_evening_and_weekend() -> None:
    assert CAL.working_time_between(sh(2026, 6, 5, 18), sh(2026, 6, 8, 9)) == timedelta(hours=2)
    assert CAL.working_time_between(sh(2026, 6, 6, 0), sh(2026, 6, 8, 0)) == timedelta(0)


def test_working_time_between_is_zero_when_end_is_not_after_start() -> None:
    assert CAL.working_time_between(sh(2026, 6, 1, 12), sh(2026, 6, 1, 10)) == timedelta(0)
    assert CAL.working_time_between(sh(2026, 6, 1, 12), sh(2026, 6, 1, 12)) == timedelta(0)


def test_add_then_measure_round_trips_for_many_random_starts() -> None:
    rng = random.Random(20260601)
    origin = sh(2025, 1, 1)
    for _ in range(300):
        start = origin + timedelta(seconds=rng.randrange(3 * 365 * 86_400))
        hours = timedelta(seconds=rng.randrange(200 * 3600))
        deadline = CAL.add_working_hours(start, hours)
        assert deadline >= start
        assert CAL.working_time_between(CAL.next_working_start(start), deadline) == hours
        assert CAL.working_time_between(start, deadline) == hours


# --- naive datetimes ------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected_everywhere() -> None:
    naive = datetime(2026, 6, 1, 10)
    aware = sh(2026, 6, 1, 10)
    calls: list[Callable[[], object]] = [
        lambda: CAL.is_working_time(naive),
        lambda: CAL.next_working_start(naive),
        lambda: CAL.add_working_hours(naive, 1),
        lambda: CAL.working_time_between(naive, aware),
        lambda: CAL.working_time_between(aware, naive),
        lambda: working_hours_after(CAL, naive, 1),
        lambda: minutes_after(naive, 15),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


# --- configuration --------------------------------------------------------------------------------


def test_from_config_reads_every_key() -> None:
    cal = BusinessCalendar.from_config(
        {
            "timezone": "Asia/Shanghai",
            "day_start": "09:00",
            "day_end": "18:30",
            "workdays": [1, 2, 3, 4, 5, 6],
            "holidays": ["2026-06-10"],
            "makeup_workdays": ["2026-06-07"],
            "country": None,
        }
    )
    assert (cal.day_start, cal.day_end) == (time(9), time(18, 30))
    assert cal.workdays == frozenset(range(6))  # ISO 1..6 = Monday..Saturday
    assert cal.holidays == frozenset({date(2026, 6, 10)})
    assert cal.makeup_workdays == frozenset({date(2026, 6, 7)})
    assert cal.country is None


def test_from_config_with_no_keys_is_the_default() -> None:
    assert BusinessCalendar.from_config({}) == BusinessCalendar()


def test_country_code_is_case_insensitive() -> None:
    assert BusinessCalendar.from_config({"country": "cn"}).country == "CN"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"timzone": "Asia/Shanghai"}, "timzone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 8}, "timezone"),
        ({"day_start": "8am"}, "day_start"),
        ({"day_start": "25:00"}, "day_start"),
        ({"day_end": "07:00"}, "day_end"),
        ({"workdays": []}, "workdays"),
        ({"workdays": [0, 1]}, "workdays"),
        ({"workdays": [1, 8]}, "workdays"),
        ({"workdays": ["Monday"]}, "workdays"),
        ({"holidays": "2026-10-01"}, "holidays"),
        ({"holidays": ["2026-02-30"]}, "holidays"),
        ({"makeup_workdays": ["10/10/2026"]}, "makeup_workdays"),
        ({"holidays": ["2026-06-06"], "makeup_workdays": ["2026-06-06"]}, "makeup_workdays"),
        ({"country": "XX"}, "country"),
        ({"country": 86}, "country"),
    ],
)
def test_invalid_config_names_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}'"):
        BusinessCalendar.from_config(config)


def test_config_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        BusinessCalendar.from_config(["CN"])  # type: ignore[arg-type]


def test_load_calendar_reads_the_given_file(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"day_end": "18:00", "holidays": ["2026-06-10"]}), encoding="utf-8")
    cal = load_calendar(str(path))
    assert cal.day_end == time(18)
    assert not cal.is_working_day(date(2026, 6, 10))


def test_load_calendar_follows_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"country": None}), encoding="utf-8")
    monkeypatch.setenv(CALENDAR_FILE_ENV, str(path))
    assert load_calendar(None).country is None


def test_load_calendar_without_file_uses_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CALENDAR_FILE_ENV, raising=False)
    assert load_calendar(None) == BusinessCalendar()


def test_load_calendar_reports_bad_json_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_calendar(str(path))


def test_load_calendar_reports_bad_setting_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"workdays": [9]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"calendar\.json.*'workdays'"):
        load_calendar(str(path))


# --- timer-expression helpers ---------------------------------------------------------------------


def test_working_hours_after_returns_iso_utc() -> None:
    text = working_hours_after(CAL, sh(2026, 6, 1, 10), 24)
    assert text == "2026-06-03T04:00:00+00:00"
    assert datetime.fromisoformat(text) == sh(2026, 6, 3, 12)


def test_minutes_after_runs_on_the_wall_clock() -> None:
    # Friday 18:50 + 20 min is 19:10 the same evening: minute deadlines ignore working hours.
    assert minutes_after(sh(2026, 6, 5, 18, 50), 20) == "2026-06-05T11:10:00+00:00"
    assert minutes_after(sh(2026, 10, 1, 12), 15) == "2026-10-01T04:15:00+00:00"
