"""Key register pages: status per key, loans, print views of 鑰匙借用登記表 and 單元鑰匙交接單."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import lazy_gettext as _l

from department import key_registers, keys
from department.roles import ADMIN, FOREMAN_OR_ABOVE

from .auth import roles_required
from .display import pick
from .engine_ext import local_zone, now
from .extensions import db
from .instances import template_helpers

bp = Blueprint("key_register", __name__)
bp.context_processor(template_helpers)

# Keepers (CS assistants, engineering, security) and the register readers.
READERS = tuple(sorted(FOREMAN_OR_ABOVE | {ADMIN, "general_manager", "project_manager", "cs_assistant",
                                           "engineering_dispatcher", "security_guard"}))
LOAN_COLUMN_LABELS = {"日期": _l("Date"), "钥匙名称(编号)": _l("Key (name or number)"), "用途": _l("Purpose"),
                      "借用人": _l("Borrower"), "交还时间": _l("Returned at"),
                      "保管人签收": _l("Keeper's countersignature")}


def _names() -> dict[str, dict[str, str]]:
    """Return the status, kind and event names in the active language."""
    return {"status": {k: pick(*v) for k, v in keys.STATUSES.items()},
            "kind": {k: pick(*v) for k, v in keys.KEY_KINDS.items()},
            "event": {k: pick(*v) for k, v in keys.EVENT_LABELS.items()}}


def _printed_at() -> str:
    return now().astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")


@bp.get("/registers/keys")
@roles_required(*READERS)
def index() -> str:
    """Show every key's status (or one key's with its history) and the loans, newest first."""
    unit = (request.args.get("unit") or "").strip()[:100] or None
    session = db.session()
    register = key_registers.key_register(session, unit)
    history = key_registers.key_history(session, unit) if unit else []
    loans = list(reversed(key_registers.key_loans(session, local_zone())))
    return render_template("registers/keys.html", register=register, history=history, unit=unit,
                           loans=loans, names=_names())


@bp.get("/records/key-loans")
@roles_required(*READERS)
def loans_print() -> str:
    """Print the 鑰匙借用登記表 in its paper columns."""
    rows = key_registers.key_loan_rows(db.session(), local_zone())
    columns = [str(LOAN_COLUMN_LABELS[c]) for c in key_registers.LOAN_COLUMNS]
    return render_template("records/key_loans.html", columns=columns, rows=rows, printed_at=_printed_at(),
                           title=_l("Key loan register"))


@bp.get("/records/key-handovers")
@roles_required(*READERS)
def handover_print() -> str:
    """Print the 單元鑰匙交接單 of every move-in, or of one unit's (`?unit=`) or one case's (`?case=`)."""
    unit = (request.args.get("unit") or "").strip()
    case = request.args.get("case", type=int)
    forms = [r for r in key_registers.handover_records(db.session())
             if (not unit or r["unit"] == unit) and (case is None or r["instance_id"] == case)]
    if (unit or case is not None) and not forms:
        abort(404)
    return render_template("records/key_handover.html", forms=forms, printed_at=_printed_at(),
                           title=_l("Unit key handover form"))
