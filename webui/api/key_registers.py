"""The key register on the API: current status per key and the 鑰匙借用登記表 (JSON or CSV)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from department import key_registers
from department.roles import ADMIN, FOREMAN_OR_ABOVE

from ..engine_ext import actor, local_zone
from ..extensions import db
from .common import page_or_csv, require_roles
from .registers import blp
from .responses import PageOut
from .schemas import PageArgs

# The keepers (CS assistants, engineering, security) read the key register with the register readers.
KEY_READERS = FOREMAN_OR_ABOVE | {ADMIN, "general_manager", "project_manager", "cs_assistant",
                                  "engineering_dispatcher", "security_guard"}


class KeyArgs(PageArgs):
    """Filter of the key register."""

    unit = fields.String(validate=validate.Length(min=1, max=100),
                         metadata={"description": "one key (a unit, or a plant room's key name)"})


class KeyLoanArgs(PageArgs):
    """Format of the loan register."""

    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "csv: the 鑰匙借用登記表 export (every loan, no paging)"})


class KeyStatusOut(Schema):
    """One key's current status, as its history adds up to."""

    key_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "unit | plant_room | master"})
    status = fields.String(required=True,
                           metadata={"description": "in_custody | sealed | out | lost | released"})
    seal_number = fields.String(allow_none=True, required=True)
    holder = fields.String(allow_none=True, required=True)
    last_event_id = fields.Integer(required=True)
    updated_at = fields.DateTime(required=True)


class KeyPageOut(PageOut):
    items = fields.List(fields.Nested(KeyStatusOut), required=True)


class KeyLoanOut(Schema):
    """One loan of 鑰匙借用登記表."""

    instance_id = fields.Integer(required=True)
    issued_at = fields.DateTime(required=True)
    issued_by = fields.String(required=True)
    key_id = fields.String(required=True)
    key_kind = fields.String(required=True)
    purpose = fields.String(required=True)
    borrower = fields.String(required=True)
    approved_by = fields.String(required=True)
    returned_at = fields.DateTime(allow_none=True, required=True)
    countersigned_by = fields.String(required=True)


class KeyLoanPageOut(PageOut):
    items = fields.List(fields.Nested(KeyLoanOut), required=True)


@blp.route("/keys")
@blp.arguments(KeyArgs, location="query")
@blp.response(200, KeyPageOut, description="current status per key (in custody, sealed with its seal, out, "
                                           "lost, released), by key")
def keys_register(args: dict[str, Any]) -> dict[str, Any]:
    """Read the key register: the current status of every key, or of one (`?unit=`)."""
    require_roles(actor(), KEY_READERS, "reading the key register")
    return page_or_csv(args, lambda: key_registers.key_register(db.session(), args.get("unit")))


@blp.route("/key-loans")
@blp.arguments(KeyLoanArgs, location="query")
@blp.response(200, KeyLoanPageOut, description="every key lent, newest first")
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                  description="format=csv: every loan, oldest first, in the columns of 鑰匙借用登記表 "
                              "(日期, 钥匙名称(编号), 用途, 借用人, 交还时间, 保管人签收; UTF-8 with BOM)")
def key_loans(args: dict[str, Any]) -> Any:
    """Read the key loan register (鑰匙借用登記表)."""
    require_roles(actor(), KEY_READERS, "reading the key register")
    return page_or_csv(args, lambda: list(reversed(key_registers.key_loans(db.session(), local_zone()))),
                       csv=("key-loans.csv", lambda: key_registers.key_loans_csv(db.session(), local_zone())))
