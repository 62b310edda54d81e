"""Quality registers (issue 14): daily anomaly register and analysis, proposals, surveys, visits."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from department import quality_registers
from department.quality import DEPARTMENTS
from department.roles import ADMIN, FOREMAN_OR_ABOVE

from .auth import roles_required
from .display import pick
from .engine_ext import local_zone, now
from .extensions import db
from .instances import local_day_start, parse_day, template_helpers

bp = Blueprint("quality_registers", __name__)
bp.context_processor(template_helpers)

# Foremen and above, the quality specialist who keeps the anomaly register, management and admins.
READERS = tuple(sorted(FOREMAN_OR_ABOVE | {ADMIN, "quality_specialist", "general_manager",
                                           "project_manager"}))
SERVICE_ITEMS = {"appearance": _l("Appearance"), "discipline": _l("Work discipline"),
                 "conduct": _l("Service conduct"), "repair": _l("Repairs"), "cleaning": _l("Cleaning"),
                 "security": _l("Security"), "other": _l("Other")}
STATUS = {"open": _l("Not closed"), "closed": _l("Closed"), "received": _l("Received"), "held": _l("Held"),
          "adopted": _l("Adopted"), "rejected": _l("Not adopted")}
CHANNELS = {"email": _l("Email"), "letter": _l("Letter"), "phone": _l("Phone"), "visit": _l("Visit")}


def _labels() -> dict[str, Any]:
    return {"items": {k: str(v) for k, v in SERVICE_ITEMS.items()},
            "status": {k: str(v) for k, v in STATUS.items()},
            "channels": {k: str(v) for k, v in CHANNELS.items()},
            "departments": {k: pick(v[0], v[1]) for k, v in DEPARTMENTS.items()}}


def _day() -> tuple[date, str | None]:
    """Read ?day= (a local date; default today), with an error message when it is not a date."""
    today = now().astimezone(local_zone()).date()
    try:
        return parse_day(request.args.get("day")) or today, None
    except ValueError:
        return today, _("Use a date like 2026-03-31.")


@bp.get("/quality")
@roles_required(*READERS)
def index() -> Response | str | tuple[str, int]:
    """Open the daily service-quality anomaly register."""
    return anomalies()


@bp.get("/quality/anomalies")
@roles_required(*READERS)
def anomalies() -> str | tuple[str, int]:
    """Show 服務質量異常記錄表 of one day (default today)."""
    day, error = _day()
    start = local_day_start(day)
    rows = quality_registers.anomaly_rows(db.session(), start, start + timedelta(days=1))
    return render_template("quality/anomalies.html", rows=rows, day=day, error=error, labels=_labels(),
                           prev_day=day - timedelta(days=1),
                           next_day=day + timedelta(days=1)), 400 if error else 200


@bp.get("/quality/anomalies/analysis")
@roles_required(*READERS)
def anomaly_analysis() -> str | tuple[str, int]:
    """Show 質量異常分析日報表: the day's anomalies per service item, causes, measures, and what is open."""
    day, error = _day()
    report = quality_registers.anomaly_daily_report(db.session(), day, local_zone())
    return render_template("quality/analysis.html", report=report, day=day, error=error, labels=_labels(),
                           prev_day=day - timedelta(days=1),
                           next_day=day + timedelta(days=1)), 400 if error else 200


@bp.get("/quality/proposals")
@roles_required(*READERS)
def proposals() -> str:
    """Show the proposal register and the yearly count per customer."""
    return render_template("quality/proposals.html", rows=quality_registers.proposal_rows(db.session()),
                           counts=quality_registers.proposal_counts(db.session(), local_zone()),
                           labels=_labels())


@bp.get("/quality/surveys")
@roles_required(*READERS)
def surveys() -> str:
    """Show the analysed satisfaction surveys with their three rates."""
    return render_template("quality/surveys.html", rows=quality_registers.survey_rows(db.session()),
                           labels=_labels())


@bp.get("/quality/visits")
@roles_required(*READERS)
def visits() -> str:
    """Show the customer-visit records of the last 92 days."""
    end = local_day_start(now().astimezone(local_zone()).date() + timedelta(days=1))
    return render_template("quality/visits.html",
                           rows=quality_registers.visit_rows(db.session(), end - timedelta(days=92), end),
                           labels=_labels())
