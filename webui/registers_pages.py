"""Registers: the hazardous-goods register (balances, ledger, stock-in, CSV) and the sealed-key log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from department import registers, services
from department.roles import ADMIN, FOREMAN_OR_ABOVE
from engine import domain
from engine.errors import InvalidData
from engine.store.queries import Page

from .auth import roles_required
from .display import pick
from .engine_ext import actor, local_zone, now
from .extensions import db
from .instances import template_helpers

bp = Blueprint("registers", __name__)
bp.context_processor(template_helpers)

# Who reads the registers: foremen and above keep them, the cleaning foreman holds the cabinet key,
# management and admins audit them.
READERS = tuple(sorted(FOREMAN_OR_ABOVE | {ADMIN, "cleaning_foreman", "general_manager", "project_manager"}))
PER_PAGE = 50
NOTE_MAX = 500
KIND_LABELS = {"stock_in": _l("Stock in"), "issue": _l("Issued"), "return": _l("Returned")}
REASON_LABELS = {"emergency": _l("Emergency"), "forgot_key": _l("Forgot the key"),
                 "lost_key": _l("Lost the key")}
STEP_LABELS = {"manager_request": _l("Manager's request"), "gm_approval": _l("General manager's approval"),
               "confirm_with_unit_head": _l("Unit head's confirmation"),
               "manager_approval": _l("Manager's approval")}


def may_stock_in() -> bool:
    """Tell whether the signed-in user is foreman or above (who records goods received)."""
    return bool(domain.current().effective_roles(current_user.roles) & FOREMAN_OR_ABOVE)


def quantity(value: float) -> str:
    """Format a quantity without float noise."""
    return f"{float(value):.3f}".rstrip("0").rstrip(".") or "0"


def with_unit(value: float, item: str) -> str:
    """Format a quantity of item followed by the unit it is counted in (2.5 瓶)."""
    unit = services.HAZARD_UNITS.get(item)
    return f"{quantity(value)} {pick(*unit)}" if unit else quantity(value)


def _item_name(item: str) -> str:
    return pick(*services.HAZARD_ITEMS.get(item, (item, item)))


@bp.get("/registers")
@roles_required(*READERS)
def index() -> Response:
    """Open the hazardous-goods register, the first of the two registers."""
    return redirect(url_for(".hazardous_goods"))


def _ledger_page(item: str | None, page_no: int) -> Page:
    """Return one page of register lines, newest first, as plain dicts."""
    # The page reads only its own lines (LIMIT/OFFSET plus one count), not the whole register.
    lines = db.paginate(services.ledger_query(item, newest_first=True), page=page_no, per_page=PER_PAGE,
                        error_out=False, count=True)
    rows = [{"at": line.at, "item": _item_name(line.item), "kind_code": line.kind,
             "kind": str(KIND_LABELS.get(line.kind, line.kind)),
             "quantity": with_unit(line.quantity, line.item),
             "balance": with_unit(line.balance_after, line.item),
             "instance_id": line.instance_id, "actor": line.actor, "counterpart": line.counterpart or "",
             "purpose": line.purpose, "location": line.location, "note": line.note}
            for line in lines.items]
    return Page(rows, lines.total or 0, page_no, PER_PAGE)


def _render_hazard(status: int = 200, errors: dict[str, str] | None = None,
                   values: dict[str, str] | None = None) -> tuple[str, int]:
    """Render the hazardous-goods page, with the stock-in form's errors and input when given."""
    item = request.args.get("item") or None
    if item is not None and item not in services.HAZARD_ITEMS:
        abort(404)
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    balances = services.balances(db.session())
    items = [(key, _item_name(key), with_unit(balances.get(key, 0.0), key)) for key in services.HAZARD_ITEMS]
    return render_template("registers/hazardous_goods.html", hazard_items=items, item=item,
                           page=_ledger_page(item, page_no), may_stock_in=may_stock_in(),
                           errors=errors or {}, values=values or {}), status


@bp.get("/registers/hazardous-goods")
@roles_required(*READERS)
def hazardous_goods() -> tuple[str, int]:
    """Show balances per item, the ledger lines and (for foremen and above) the stock-in form."""
    return _render_hazard()


@bp.post("/registers/hazardous-goods/stock-in")
@roles_required(*READERS)
def stock_in() -> Response | tuple[str, int]:
    """Record goods received from the warehouse (foreman or above)."""
    if not may_stock_in():
        abort(403)
    values = {k: (request.form.get(k) or "").strip() for k in ("item", "quantity", "note")}
    errors: dict[str, str] = {}
    if len(values["note"]) > NOTE_MAX:
        errors["note"] = _("At most %(n)d characters.", n=NOTE_MAX)
    if not errors:
        try:
            line = services.stock_in(db.session(), values["item"], values["quantity"].replace(",", "."),
                                     values["note"], actor().username, now())
            db.session.commit()
        except InvalidData as err:
            db.session.rollback()
            errors = {name: _field_message(name) for name in err.fields}
        except services.ServiceError as err:
            db.session.rollback()
            errors = {"quantity": str(err)}
    if errors:
        return _render_hazard(422, errors, values)
    flash(_("Recorded: %(qty)s of %(item)s received; balance now %(balance)s.",
            qty=with_unit(line.quantity, line.item),
            item=_item_name(line.item), balance=with_unit(line.balance_after, line.item)), "success")
    return redirect(url_for(".hazardous_goods"))


def _field_message(name: str) -> str:
    """Explain a refused stock-in field in the user's language."""
    messages = {"item": _("Choose one of the listed items."),
                "quantity": _("Enter a number greater than zero.")}
    return messages.get(name, _("This value was refused."))


@bp.get("/registers/hazardous-goods.csv")
@roles_required(*READERS)
def hazardous_goods_csv() -> Response:
    """Export the register in the paper form's columns (危险品使用登记表) as CSV."""
    item = request.args.get("item") or None
    if item is not None and item not in services.HAZARD_ITEMS:
        abort(404)
    body = registers.hazard_register_csv(db.session(), item, local_zone())
    stamp = now().astimezone(local_zone()).strftime("%Y%m%d")
    name = f"hazardous-goods-register{'-' + item if item else ''}-{stamp}.csv"
    return FlaskResponse(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _moment(value: Any) -> datetime | str | None:
    """Return form-entered times (ISO text) as datetimes when they parse, else as typed."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value if isinstance(value, datetime) else None


@bp.get("/registers/sealed-keys")
@roles_required(*READERS)
def sealed_keys() -> str:
    """Show every sealed-key use: unit, reason, approvals, witnesses, times and seals."""
    records = registers.sealed_key_records(db.session())
    for record in records:
        record["opened_at"], record["closed_at"] = _moment(record["opened_at"]), _moment(record["closed_at"])
    incidents = registers.sealed_key_incidents(db.session())
    return render_template("registers/sealed_keys.html", records=records, incidents=incidents,
                           reasons=REASON_LABELS, steps=STEP_LABELS)


from . import case_register_pages  # noqa: E402,F401  (issue 12's case registers live on this blueprint)
