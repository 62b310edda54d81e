"""The service KPIs of SPEC §4 for a period of calendar days."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from marshmallow import Schema, fields, validate

from department import kpi_drilldown
from department.kpis import compute_kpis as compute_department_kpis
from engine import domain
from engine.store.queries import may_observe

from ..engine_ext import actor, get_engine, local_zone, now
from ..extensions import db
from .common import ApiBlueprint, csv_download, fail, request_locale
from .responses import KpiReportOut
from .schemas import FIRST_DAY, LAST_DAY, KpiArgs

blp = ApiBlueprint("kpis", __name__, url_prefix="/api/v1/kpis",
                   description="Repair timeliness, repair callback rate, valid-complaint timeliness, "
                               "face-to-face callbacks and callback satisfaction, computed from "
                               "instance history.")


@blp.route("")
@blp.arguments(KpiArgs, location="query")
@blp.response(200, KpiReportOut)
def kpis(args: dict[str, Any]) -> dict[str, Any]:
    """Compute the four KPIs for the days from..to (both included; default: this month so far).

    Days are read in the business calendar's time zone (the one local-time setting); the answer's `from`/`to`
    are the period's bounds in UTC, `to` excluded. Admins and managers only.
    """
    if not may_observe(actor()):
        fail(403, "forbidden", "the figures are for admins and managers")
    engine = get_engine()
    zone = local_zone()
    today = now().astimezone(zone).date()
    first, last = args.get("from", today.replace(day=1)), args.get("to", today)
    if last < first:  # only possible when one bound was defaulted
        fail(422, "invalid_data", "the period ends before it starts",
             {"to" if "to" in args else "from": ["must not be before 'from'" if "to" in args
                                                 else "must not be after 'to'"]})
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    compute_kpis = domain.current().kpis
    if compute_kpis is None:
        fail(404, "not_found", "this installation defines no KPIs")
    report = compute_kpis(db.session(), start, end, engine.calendar, now=now()).to_dict()
    locale = request_locale()
    for kpi in report["kpis"]:
        kpi["title"] = kpi[f"title_{locale}"]
    return report


# -- issue 12: the cases behind each figure, and the month-by-month trend --------------------------

class KpiCasesArgs(KpiArgs):
    """The KPI, the period, an optional person or role, and the format."""

    kpi = fields.String(required=True, validate=validate.Length(max=64),
                        metadata={"description": "the KPI's key, e.g. repair_timeliness"})
    actor = fields.String(validate=validate.Length(max=64), metadata={"description": "only this person's"})
    role = fields.String(validate=validate.Length(max=64), metadata={"description": "only this role's"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class KpiCaseOut(Schema):
    instance_id = fields.Integer(required=True)
    case = fields.String(required=True)
    element = fields.String(required=True)
    due = fields.String(required=True)
    done_at = fields.String(required=True)
    on_time = fields.Boolean(required=True)
    actor = fields.String(required=True)
    role = fields.String(required=True)
    version = fields.String(required=True)
    severity = fields.String(required=True)
    process = fields.String(required=True)


class KpiCasesOut(Schema):
    key = fields.String(required=True)
    items = fields.List(fields.Nested(KpiCaseOut), required=True)


class TrendArgs(Schema):
    months = fields.Integer(load_default=12, validate=validate.Range(1, kpi_drilldown.MAX_MONTHS))
    to = fields.Date(validate=validate.Range(FIRST_DAY, LAST_DAY),
                     metadata={"description": "a day of the last month shown (default: today)"})


class TrendOut(Schema):
    months = fields.List(fields.Dict(), required=True)


def _period(args: dict[str, Any]) -> tuple[datetime, datetime]:
    """Return the [start, end) of the days from..to in the calendar's zone (default: this month so far)."""
    zone = local_zone()
    today = now().astimezone(zone).date()
    first, last = args.get("from", today.replace(day=1)), args.get("to", today)
    if last < first:
        fail(422, "invalid_data", "the period ends before it starts", {"to": ["must not be before 'from'"]})
    return datetime.combine(first, time(0), zone), datetime.combine(last + timedelta(days=1), time(0), zone)


@blp.route("/cases")
@blp.arguments(KpiCasesArgs, location="query")
@blp.response(200, KpiCasesOut, description="the counted cases, the ones that missed first")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                  description="format=csv: the same rows with Chinese headings (UTF-8 with BOM)")
def kpi_cases(args: dict[str, Any]) -> Any:
    """List the cases behind one KPI's number for the period, late ones first; filter by person or role."""
    if not may_observe(actor()):
        fail(403, "forbidden", "the figures are for admins and managers")
    key = args["kpi"]
    start, end = _period(args)
    report = compute_department_kpis(db.session(), start, end, get_engine().calendar, now=now())
    found = {k.key: k for k in report.kpis()}
    if key not in found:
        fail(422, "invalid_data", "unknown KPI", {"kpi": [f"no KPI '{key}'; one of {', '.join(found)}"]})
    rows = kpi_drilldown.kpi_cases(found[key], local_zone(), actor=args.get("actor"), role=args.get("role"))
    if args["format"] == "csv":
        return csv_download(kpi_drilldown.kpi_cases_csv(rows), f"{key}-cases.csv")
    return {"key": key, "items": rows}


@blp.route("/trend")
@blp.arguments(TrendArgs, location="query")
@blp.response(200, TrendOut, description="each KPI's figure per calendar month, oldest first")
def trend(args: dict[str, Any]) -> dict[str, Any]:
    """Return every KPI month by month (default: the last 12 months up to this one)."""
    if not may_observe(actor()):
        fail(403, "forbidden", "the figures are for admins and managers")
    last = args.get("to", now().astimezone(local_zone()).date())
    return {"months": kpi_drilldown.monthly_trend(db.session(), get_engine().calendar, last, args["months"],
                                                  now(), local_zone())}
