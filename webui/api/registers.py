"""Registers: the hazardous-goods ledger (JSON or the 登記表 CSV), stock-in, and the sealed-key log."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from department import case_registers, charge_backs, registers, services
from department.roles import ADMIN, FOREMAN_OR_ABOVE
from engine.errors import InvalidData

from ..engine_ext import actor, local_zone, now
from ..extensions import db
from .common import ApiBlueprint, fail, page_or_csv, require_roles, run_command
from .responses import LedgerLineOut, LedgerPageOut, PageOut, SealedKeyPageOut
from .schemas import LedgerArgs, PageArgs, StockIn

blp = ApiBlueprint("registers", __name__, url_prefix="/api/v1/registers",
                   description="The hazardous-goods register (危險品使用登記表), the sealed-key log, the "
                               "complaint register, the call/visit log and the repair work orders.")

# The same readers as the register pages: foremen and above keep the registers, the cleaning
# foreman holds the cabinet key, management and admins audit them.
READERS = FOREMAN_OR_ABOVE | {ADMIN, "cleaning_foreman", "general_manager", "project_manager"}
_LINE_KEYS = ("id", "item", "kind", "quantity", "balance_after", "instance_id", "actor", "counterpart",
              "purpose", "location", "note", "at")


def _line(line: Any) -> dict[str, Any]:
    """Return a ledger line's columns (never the ORM row)."""
    return {key: getattr(line, key) for key in _LINE_KEYS}


def _balances() -> list[dict[str, Any]]:
    """Return every item's balance with its names."""
    names = services.HAZARD_ITEMS
    return [{"item": item, "name_zh": names[item][0], "name_en": names[item][1], "balance": balance}
            for item, balance in services.balances(db.session()).items()]


@blp.route("/hazardous-goods")
@blp.arguments(LedgerArgs, location="query")
@blp.response(200, LedgerPageOut, description="register lines, newest first, and the balance of every item")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                  description="format=csv: every line, oldest first, in the paper form's columns "
                              "(UTF-8 with BOM)")
def hazardous_goods(args: dict[str, Any]) -> Any:
    """Read the hazardous-goods register: lines (optionally of one item) and the balance per item."""
    require_roles(actor(), READERS, "reading the registers")
    item = args.get("item")
    suffix = f"-{item}" if item else ""
    return page_or_csv(
        args, lambda: [_line(line) for line in reversed(services.ledger_lines(db.session(), item))],
        extra=lambda _lines: {"balances": _balances()},
        csv=(f"hazardous-goods{suffix}.csv",
             lambda: registers.hazard_register_csv(db.session(), item, local_zone())))


@blp.route("/hazardous-goods/stock-in", methods=["POST"])
@blp.arguments(StockIn)
@blp.response(201, LedgerLineOut, description="the new register line with the balance after it")
def stock_in(body: dict[str, Any]) -> dict[str, Any]:
    """Record goods received from the warehouse (foreman or above)."""
    who = actor()
    require_roles(who, FOREMAN_OR_ABOVE, "recording a stock-in")

    def record() -> Any:
        try:
            return services.stock_in(db.session(), body["item"], body["quantity"], body["note"], who.username,
                                     now())
        except services.ServiceError as exc:
            raise InvalidData(str(exc), {"quantity": [str(exc)]}) from exc

    line, _failure = run_command(record)
    if line is None:
        fail(422, "invalid_data", "stock-in refused")
    return _line(line)


@blp.route("/sealed-keys")
@blp.arguments(PageArgs, location="query")
@blp.response(200, SealedKeyPageOut)
def sealed_keys(args: dict[str, Any]) -> dict[str, Any]:
    """List every archived sealed-key use, newest first: unit, reason, approvals, witnesses, times, seals."""
    require_roles(actor(), READERS, "reading the registers")
    return page_or_csv(args, lambda: registers.sealed_key_records(db.session()))


from . import key_registers  # noqa: E402,F401  (the key register's routes live on this blueprint)

# -- issue 12: the case registers of seed 000 §5 ---------------------------------------------------
# The desk keeps the call/visit log and the complaint form, so customer-service assistants read them too.
CASE_READERS = READERS | {"cs_assistant"}


class CaseRegisterArgs(PageArgs):
    """Format of a case register."""

    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "csv: the paper form's columns (every row, no paging)"})


class CaseRegisterPageOut(PageOut):
    """One page of a case register: rows keyed by column, oldest first."""

    items = fields.List(fields.Dict(keys=fields.String(), values=fields.String()), required=True)
    columns = fields.List(fields.List(fields.String()), required=True,
                          metadata={"description": "[key, paper-form heading] of each column"})


def _case_register(name: str, args: dict[str, Any]) -> Any:
    """Answer one case register as JSON rows or as the paper form's CSV."""
    require_roles(actor(), CASE_READERS, "reading the registers")
    columns, rows_of = case_registers.REGISTERS[name]
    return page_or_csv(args, lambda: rows_of(db.session(), local_zone()),
                       extra=lambda _rows: {"columns": [list(c) for c in columns]},
                       csv=(f"{name}.csv",
                            lambda: case_registers.register_csv(name, db.session(), local_zone())))


_CSV = {"schema": {"type": "string"}, "content_type": "text/csv", "success": True,
        "description": "format=csv: every row in the paper form's columns (UTF-8 with BOM)"}


@blp.route("/complaints")
@blp.arguments(CaseRegisterArgs, location="query")
@blp.response(200, CaseRegisterPageOut, description="投訴處理記錄表: one row per complaint")
@blp.alt_response(200, **_CSV)
def complaints(args: dict[str, Any]) -> Any:
    """Read the complaint register (投訴處理記錄表)."""
    return _case_register("complaints", args)


@blp.route("/call-visit-log")
@blp.arguments(CaseRegisterArgs, location="query")
@blp.response(200, CaseRegisterPageOut, description="來電來訪處理記錄表: every repair request and complaint")
@blp.alt_response(200, **_CSV)
def call_visit_log(args: dict[str, Any]) -> Any:
    """Read the call/visit log (來電來訪處理記錄表)."""
    return _case_register("call-visit-log", args)


@blp.route("/repair-work-orders")
@blp.arguments(CaseRegisterArgs, location="query")
@blp.response(200, CaseRegisterPageOut, description="repair work orders, each with its case number")
@blp.alt_response(200, **_CSV)
def repair_work_orders(args: dict[str, Any]) -> Any:
    """Read the repair work-order register."""
    return _case_register("repair-work-orders", args)


# -- issue 12: the substitute-repair charge-backs per team (seed 002 代維) ----------------------------
class ChargeBackPageOut(CaseRegisterPageOut):
    """One page of charge-backs and the totals per team over all of them."""

    totals = fields.List(fields.Dict(keys=fields.String()), required=True,
                         metadata={"description": "per team: cases, estimated_cost, charged, pending"})


@blp.route("/charge-backs")
@blp.arguments(CaseRegisterArgs, location="query")
@blp.response(200, ChargeBackPageOut, description="代維扣款: one row per approved substitute repair")
@blp.alt_response(200, **{**_CSV, "description": "format=csv: every row, then a total line per team "
                                                 "(UTF-8 with BOM)"})
def charge_backs_register(args: dict[str, Any]) -> Any:
    """Read the charge-back register: each substitute repair charged to a team, and the totals per team."""
    require_roles(actor(), READERS, "reading the registers")
    # The CSV's total line per team is written by charge_backs.register_csv; JSON carries them as totals.
    return page_or_csv(args, lambda: charge_backs.rows(db.session(), local_zone()),
                       extra=lambda rows: {"columns": [list(c) for c in charge_backs.COLUMNS],
                                           "totals": charge_backs.totals(rows)},
                       csv=("charge-backs.csv",
                            lambda: charge_backs.register_csv(db.session(), local_zone())))
