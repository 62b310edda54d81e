"""Figures: the four service KPIs of SPEC §4 over a chosen period, with targets and charts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from department import kpi_drilldown
from department.kpis import compute_kpis as compute_department_kpis
from department.roles import OBSERVERS
from engine import domain

from .auth import roles_required
from .display import pick
from .engine_ext import get_engine, local_zone, now
from .extensions import db
from .i18n import localized_role
from .instances import local_day_start, parse_day, process_names, template_helpers

bp = Blueprint("figures", __name__)
bp.context_processor(template_helpers)

MAX_DAYS = 366  # a year at most: the figures are read per month or quarter
# Titles in the UI's languages (the engine's own titles quote the rule book in Traditional script).
KPI_TITLES = {
    "repair_timeliness": _l("Repair timeliness (on site within 15 minutes of the request)"),
    "repair_callback_rate": _l("Repair callbacks within 24 working hours of the end of the work"),
    "valid_complaint_timeliness": _l("Valid complaints handled in time"),
    "callback_face_to_face": _l("Face-to-face repair callbacks"),
    "callback_satisfaction": _l("Callback satisfaction"),
    # issue 14: the quality KPIs
    "satisfaction": _l("Customer satisfaction (survey)"),
    "survey_handout_rate": _l("Survey handout rate"),
    "survey_return_rate": _l("Survey return rate"),
    "customer_visits": _l("Customer visits (2–5 per person a month)"),
    "anomalies_closed": _l("Service-quality anomalies closed"),
}
BREAKDOWN_TITLES = {"role": _l("By role"), "process": _l("By process"), "severity": _l("By severity"),
                    "actor": _l("By person"), "version": _l("By process version"), "survey": _l("By survey"),
                    "month": _l("By month"), "service_item": _l("By service item")}
SEVERITY_LABELS = {"major": _l("Major"), "general": _l("General"), "minor": _l("Minor")}
CHARTED = ("process", "role", "severity")  # per person stays a table: names make poor chart axes


def default_period(today: date) -> tuple[date, date]:
    """Return this month: its first and last day."""
    first = today.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return first, next_month - timedelta(days=1)


def _period() -> tuple[date, date, dict[str, str], dict[str, str]]:
    """Read from/to (inclusive local dates) from the query string, with errors by field."""
    today = now().astimezone(local_zone()).date()
    first, last = default_period(today)
    raw = {k: (request.args.get(k) or "").strip() for k in ("from", "to")}
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for key, fallback in (("from", first), ("to", last)):
        try:
            days[key] = parse_day(raw[key]) or fallback
        except ValueError:
            errors[key] = _("Use a date like 2026-03-31.")
            days[key] = fallback
    if not errors and days["to"] < days["from"]:
        errors["to"] = _("The end date must not be before the start date.")
    elif not errors and (days["to"] - days["from"]).days >= MAX_DAYS:
        errors["to"] = _("Choose a period of at most %(n)d days.", n=MAX_DAYS)
    return days["from"], days["to"], raw, errors


def _group_label(name: str, group: str, names: dict[str, tuple[str, str]]) -> str:
    """Return a breakdown group's label in the active language."""
    if name == "role":
        return localized_role(group)
    if name == "process":
        return pick(*names.get(group, (group, group)))
    if name == "severity":
        return str(SEVERITY_LABELS.get(group, group))
    return group


def _percent(f: Any) -> float | None:
    return None if f.ratio is None else round(f.ratio * 100, 1)


def kpi_view(kpi: Any, names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Return what the page and its charts show for one KPI."""
    breakdowns = []
    for name in (*CHARTED, "actor", "version", "survey", "month", "service_item"):
        groups = kpi.breakdowns.get(name)
        if not groups:
            continue
        rows = [{"label": _group_label(name, g, names), "percent": _percent(f), "numerator": f.numerator,
                 "denominator": f.denominator, "met": f.met} for g, f in sorted(groups.items())]
        breakdowns.append({"name": name, "title": str(BREAKDOWN_TITLES.get(name, name)), "rows": rows,
                           "chart": name in CHARTED})
    overall = kpi.overall
    return {"key": kpi.key, "title": str(KPI_TITLES.get(kpi.key, pick(kpi.title_zh, kpi.title_en))),
            "percent": _percent(overall), "numerator": overall.numerator, "denominator": overall.denominator,
            "target": round(overall.target * 100), "met": overall.met, "pending": kpi.pending,
            "missed": kpi.missed, "breakdowns": breakdowns, "cases": getattr(kpi, "cases", ())}


@bp.get("/figures")
@roles_required(*OBSERVERS)
def index() -> str | tuple[str, int]:
    """Show the four KPIs over the chosen period (default: this month)."""
    start, end, raw, errors = _period()
    context: dict[str, Any] = {"start": start, "end": end, "raw": raw, "errors": errors}
    if errors:
        return render_template("figures/index.html", kpis=None, **context), 400
    compute_kpis = domain.current().kpis
    if compute_kpis is None:
        abort(404)
    report = compute_kpis(db.session(), local_day_start(start), local_day_start(end + timedelta(days=1)),
                          get_engine().calendar, now=now())
    names = process_names(db.session())
    kpis = [kpi_view(k, names) for k in report.kpis()]
    chart_data = {
        "labels": {"ratio": _("Share on time / satisfied (%)"), "target": _("Target"), "met": _("met"),
                   "missed": _("missed")},
        "overview": [{"title": k["title"], "percent": k["percent"], "target": k["target"], "met": k["met"]}
                     for k in kpis],
        "charts": [{"id": f"chart-{k['key']}-{b['name']}", "target": k["target"], "rows": b["rows"]}
                   for k in kpis for b in k["breakdowns"] if b["chart"]],
    }
    return render_template("figures/index.html", kpis=kpis, chart_data=chart_data, trend=trend_view(end),
                           quality_facts=report.to_dict().get("quality_facts", {}), **context)


TREND_MONTHS = 6


def trend_view(last_day: date) -> dict[str, Any]:
    """Return each KPI per month for the last TREND_MONTHS months up to last_day (the API's trend)."""
    months = kpi_drilldown.monthly_trend(db.session(), get_engine().calendar, last_day, TREND_MONTHS, now(),
                                         local_zone())
    keys = list(months[-1]["kpis"]) if months else []
    rows = []
    for key in keys:
        cells = []
        for month in months:
            f = month["kpis"].get(key) or {"ratio": None, "numerator": 0, "denominator": 0, "met": None}
            cells.append({"percent": None if f["ratio"] is None else round(f["ratio"] * 100, 1),
                          "numerator": f["numerator"], "denominator": f["denominator"], "met": f["met"]})
        target = months[-1]["kpis"][key]["target"]
        rows.append({"key": key, "title": str(KPI_TITLES.get(key, key)), "target": round(target * 100),
                     "cells": cells})
    return {"months": [m["month"] for m in months], "rows": rows}


@bp.get("/figures/cases.csv")
@roles_required(*OBSERVERS)
def cases_csv() -> Response:
    """Download the cases behind one KPI (`kpi`) for the period, late first; `actor`/`role` narrow it."""
    key = request.args.get("kpi", "")
    start, end, _raw, errors = _period()
    if errors:
        abort(400)
    period = (local_day_start(start), local_day_start(end + timedelta(days=1)))
    report = compute_department_kpis(db.session(), *period, get_engine().calendar, now=now())
    found = {k.key: k for k in report.kpis()}
    if key not in found:
        abort(404)
    rows = kpi_drilldown.kpi_cases(found[key], local_zone(), actor=request.args.get("actor") or None,
                                   role=request.args.get("role") or None)
    name = f"{key}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(kpi_drilldown.kpi_cases_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
