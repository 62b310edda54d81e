"""Quality registers (issue 14): 服務質量異常記錄表 and its daily analysis, proposals, surveys, visits."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from marshmallow import Schema, fields

from department import quality_registers
from department.roles import ADMIN, FOREMAN_OR_ABOVE

from ..engine_ext import actor, local_zone, now
from ..extensions import db
from .common import ApiBlueprint, fail, page_or_csv, read, require_roles
from .responses import PageOut
from .schemas import PageArgs

blp = ApiBlueprint("quality_registers", __name__, url_prefix="/api/v1/registers",
                   description="The quality registers: service-quality anomalies (服務質量異常記錄表) "
                               "and their daily "
                               "analysis, customer proposals with a yearly count per customer, satisfaction "
                               "surveys and customer visits.")

# Foremen and above keep the registers; the quality specialist keeps the anomaly register; management
# and admins read them.
READERS = FOREMAN_OR_ABOVE | {ADMIN, "quality_specialist", "general_manager", "project_manager"}


class PeriodArgs(PageArgs):
    """Local days from..to, both included (default: the last 31 days)."""

    from_ = fields.Date(data_key="from", metadata={"description": "first local day (ISO date)"})
    to = fields.Date(metadata={"description": "last local day (ISO date), included"})


class DayArgs(Schema):
    """One local day (default: today)."""

    day = fields.Date(metadata={"description": "the local day (ISO date)"})


class RowsPageOut(PageOut):
    items = fields.List(fields.Dict(), required=True)


class ProposalPageOut(RowsPageOut):
    per_customer = fields.List(fields.Dict(), required=True,
                               metadata={"description": "proposals per customer and year (第12條)"})


class DailyAnalysisOut(Schema):
    day = fields.String(required=True)
    lines = fields.List(fields.Dict(), required=True)
    items = fields.List(fields.Dict(), required=True, metadata={"description": "per service item: count, "
                                                                               "open, causes, measures"})
    open = fields.List(fields.Dict(), required=True,
                       metadata={"description": "anomalies still open at day end"})


def _bounds(args: dict[str, Any]) -> tuple[datetime, datetime]:
    """Return the requested local days as [start, end) instants, refusing an inverted period."""
    zone = local_zone()
    today = now().astimezone(zone).date()
    last: date = args.get("to") or today
    first: date = args.get("from_") or last - timedelta(days=30)
    if last < first:
        fail(422, "invalid_data", "the period ends before it starts", {"to": ["must not be before 'from'"]})
    return datetime.combine(first, time(0), zone), datetime.combine(last + timedelta(days=1), time(0), zone)


@blp.route("/anomalies")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, RowsPageOut, description="服務質量異常記錄表 lines observed in the period, oldest first")
def anomalies(args: dict[str, Any]) -> dict[str, Any]:
    """Read the service-quality anomaly register for a period of local days."""
    require_roles(actor(), READERS, "reading the quality registers")
    start, end = _bounds(args)
    return page_or_csv(args, lambda: quality_registers.anomaly_rows(db.session(), start, end))


@blp.route("/anomalies/daily-analysis")
@blp.arguments(DayArgs, location="query")
@blp.response(200, DailyAnalysisOut)
def daily_analysis(args: dict[str, Any]) -> dict[str, Any]:
    """Read 質量異常分析日報表 of one local day: its lines, a summary per service item, what is still open."""
    require_roles(actor(), READERS, "reading the quality registers")
    day = args.get("day") or now().astimezone(local_zone()).date()
    return read(lambda: quality_registers.anomaly_daily_report(db.session(), day, local_zone()))


@blp.route("/proposals")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProposalPageOut)
def proposals(args: dict[str, Any]) -> dict[str, Any]:
    """Read the proposal register (newest first) with the yearly count per customer."""
    require_roles(actor(), READERS, "reading the quality registers")
    return page_or_csv(args, lambda: quality_registers.proposal_rows(db.session()), extra=lambda _rows: {
        "per_customer": read(lambda: quality_registers.proposal_counts(db.session(), local_zone()))})


@blp.route("/surveys")
@blp.arguments(PageArgs, location="query")
@blp.response(200, RowsPageOut, description="analysed surveys, latest first, with satisfaction, handout and "
                                            "return rates in %")
def surveys(args: dict[str, Any]) -> dict[str, Any]:
    """Read the satisfaction-survey results."""
    require_roles(actor(), READERS, "reading the quality registers")
    return page_or_csv(args, lambda: quality_registers.survey_rows(db.session()))


@blp.route("/visits")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, RowsPageOut, description="visit records of the period, newest first")
def visits(args: dict[str, Any]) -> dict[str, Any]:
    """Read the customer-visit records for a period of local days."""
    require_roles(actor(), READERS, "reading the quality registers")
    start, end = _bounds(args)
    return page_or_csv(args, lambda: quality_registers.visit_rows(db.session(), start, end))
