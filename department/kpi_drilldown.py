"""The cases behind each KPI figure (late ones first, by person and role, CSV) and its monthly trend."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from department.case_registers import case_number
from department.kpis import Kpi, compute_kpis
from department.registers import csv_safe
from engine.calendar import DEFAULT_ZONE, BusinessCalendar

CASE_COLUMNS = (("case", "流程单号"), ("element", "环节"), ("due", "期限"), ("done_at", "完成时间"),
                ("on_time", "达标"), ("actor", "经办人"), ("role", "角色"), ("version", "流程版本"),
                ("severity", "严重程度"), ("process", "流程"))
GROUP_COLUMNS = ("actor", "role", "version", "severity", "process")
MAX_MONTHS = 24


def _when(moment: datetime | None, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def kpi_cases(kpi: Kpi, zone: tzinfo = DEFAULT_ZONE, *, actor: str | None = None,
              role: str | None = None) -> list[dict[str, Any]]:
    """Return the items a KPI counted, the ones that missed first (earliest deadline first), then the rest."""
    rows = []
    for item in kpi.items:
        if (actor is not None and item.groups.get("actor") != actor) or (
                role is not None and item.groups.get("role") != role):
            continue
        rows.append((item.hit, item.due or item.at, {
            "instance_id": item.instance_id, "case": case_number(item.instance_id),
            "element": item.element_id, "due": _when(item.due, zone), "done_at": _when(item.at, zone),
            "on_time": item.hit,
            **{name: item.groups.get(name, "") for name in GROUP_COLUMNS},
        }))
    rows.sort(key=lambda r: (r[0], r[1] or datetime.min, r[2]["instance_id"]))
    return [row for _hit, _at, row in rows]


def kpi_cases_csv(rows: list[dict[str, Any]]) -> str:
    """Return drill-down rows as CSV with Chinese headings (UTF-8 with BOM for Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([heading for _key, heading in CASE_COLUMNS])
    for row in rows:
        cells = {**row, "on_time": "是" if row["on_time"] else "否"}
        writer.writerow([csv_safe(str(cells[key])) for key, _heading in CASE_COLUMNS])
    return "\ufeff" + buffer.getvalue()


def _month_start(year: int, month: int, zone: tzinfo) -> datetime:
    return datetime.combine(date(year, month, 1), time(0), zone)


def monthly_trend(session: Session, calendar: BusinessCalendar, last_month: date, months: int,
                  now: datetime, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, Any]]:
    """Return each KPI's figure per calendar month, oldest first, for `months` months up to last_month."""
    if not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be between 1 and {MAX_MONTHS}")
    index = last_month.year * 12 + last_month.month - 1 - (months - 1)
    out = []
    for _ in range(months):
        year, month = divmod(index, 12)
        start = _month_start(year, month + 1, zone)
        ny, nm = divmod(index + 1, 12)
        end = _month_start(ny, nm + 1, zone)
        report = compute_kpis(session, start, end, calendar, now=now)
        out.append({"month": f"{year:04d}-{month + 1:02d}",
                    "kpis": {k.key: {"numerator": k.overall.numerator, "denominator": k.overall.denominator,
                                     "ratio": k.overall.ratio, "target": k.overall.target,
                                     "met": k.overall.met, "pending": k.pending} for k in report.kpis()}})
        index += 1
    return out
