"""The service KPIs of SPEC §4 for a period of calendar days."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from engine import domain
from engine.store.queries import may_observe

from ..engine_ext import actor, get_engine, local_zone, now
from ..extensions import db
from .common import ApiBlueprint, fail, request_locale
from .responses import KpiReportOut
from .schemas import KpiArgs

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
