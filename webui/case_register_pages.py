"""Registers of issue 12: complaints, the call/visit log, repair work orders and the charge-backs per team."""

from __future__ import annotations

from flask import Response, abort, render_template, url_for
from flask_babel import lazy_gettext as _l

from department import case_registers, charge_backs

from .auth import roles_required
from .engine_ext import local_zone
from .extensions import db
from .registers_pages import READERS, bp

# The desk keeps the call/visit log and the complaint form, so customer-service assistants read them too.
CASE_READERS = (*READERS, "cs_assistant")
CASE_RULE = '/registers/cases/<any("complaints", "call-visit-log", "repair-work-orders"):name>'

# name in the URL -> the page's title (the paper form's name in the seeds)
TITLES = {"complaints": _l("Complaint register"), "call-visit-log": _l("Call and visit log"),
          "repair-work-orders": _l("Repair work orders")}


def _csv(body: str, name: str) -> Response:
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}.csv"', "Cache-Control": "no-store"})


@bp.get(CASE_RULE)
@roles_required(*CASE_READERS)
def case_register(name: str) -> str:
    """Show one case register (投訴處理記錄表, 來電來訪處理記錄表, work orders), oldest case first."""
    if name not in case_registers.REGISTERS:
        abort(404)
    columns, rows_of = case_registers.REGISTERS[name]
    return render_template("registers/case_register.html", name=name, title=TITLES[name], columns=columns,
                           rows=rows_of(db.session(), local_zone()),
                           csv_url=url_for(".case_register_csv", name=name), totals=None)


@bp.get(CASE_RULE + ".csv")
@roles_required(*CASE_READERS)
def case_register_csv(name: str) -> Response:
    """Download one case register in the paper form's columns."""
    if name not in case_registers.REGISTERS:
        abort(404)
    return _csv(case_registers.register_csv(name, db.session(), local_zone()), name)


@bp.get("/registers/charge-backs")
@roles_required(*READERS)
def charge_back_register() -> str:
    """Show each substitute repair charged to a team (代維扣款) and the totals per team."""
    rows = charge_backs.rows(db.session(), local_zone())
    return render_template("registers/case_register.html", name="charge-backs",
                           title=_l("Substitute-repair charge-backs"), columns=charge_backs.COLUMNS,
                           rows=rows, csv_url=url_for(".charge_back_register_csv"),
                           totals=charge_backs.totals(rows))


@bp.get("/registers/charge-backs.csv")
@roles_required(*READERS)
def charge_back_register_csv() -> Response:
    """Download the charge-backs, then a total line per team."""
    return _csv(charge_backs.register_csv(db.session(), local_zone()), "charge-backs")
