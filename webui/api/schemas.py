"""Marshmallow schemas of what API v1 accepts (query strings, bodies), and shared field types."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from department.services import HAZARD_ITEMS
from engine.store.case_search import SORTS
from engine.store.queries import INSTANCE_STATUSES, SCOPES, TASK_STATUSES

KEY_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
# Row ids: BIGINT on PostgreSQL; a larger number is simply a row that does not exist.
MAX_ID = 2**63 - 1
MAX_PAGE = 100_000
MAX_QUANTITY = 1_000_000_000
# KPI periods: the business calendar and date arithmetic need sane years.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _no_nul_text(value: str) -> None:
    # PostgreSQL refuses NUL in text and JSON; refuse it here with a clear reason instead.
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


def _no_nul_anywhere(value: Any, depth: int = 0) -> None:
    """Refuse NUL characters in any key or string of a JSON value."""
    if depth > 64:
        raise ValidationError("is nested too deeply (64 levels at most)")
    if isinstance(value, str):
        _no_nul_text(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _no_nul_text(str(key))
            _no_nul_anywhere(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _no_nul_anywhere(item, depth + 1)


class Text(fields.String):
    """A string without NUL characters."""

    def __init__(self, *, max_length: int = 500, **kwargs: Any) -> None:
        validators = [validate.Length(max=max_length), _no_nul_text, *kwargs.pop("validate", [])]
        super().__init__(validate=validators, **kwargs)


class JsonObject(fields.Dict):
    """A JSON object of any shape (form data); NUL characters refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), validate=_no_nul_anywhere, **kwargs)


class UtcDateTime(fields.DateTime):
    """A moment, written as ISO-8601 in UTC with a Z suffix."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _key_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(KEY_RE, error="must be letters, digits and '_' "
                                                                 "(at most 64)"), **kwargs)


def _page_fields(default_per_page: int = 25, max_per_page: int = 200) -> dict[str, fields.Field]:
    return {
        "page": fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE),
                               metadata={"description": "1-based page number"}),
        "per_page": fields.Integer(load_default=default_per_page, validate=validate.Range(1, max_per_page),
                                   metadata={"description": f"items per page (at most {max_per_page})"}),
    }


# --------------------------------------------------------------------------------------------- inputs

class PageArgs(Schema):
    """Which page of a list."""

    page = _page_fields()["page"]
    per_page = _page_fields()["per_page"]


class InstanceListArgs(PageArgs):
    """Filters of the instance list."""

    process_key = _key_field(metadata={"description": "only instances of this process"})
    status = fields.String(validate=validate.OneOf(INSTANCE_STATUSES))
    q = Text(max_length=100, metadata={
        "description": "one search box: case number (123 or 000123), title, unit, phone or a name in the "
                       "case data, or a member of staff who started or holds it"})
    sort = fields.String(load_default="started", validate=validate.OneOf(SORTS), metadata={
        "description": "started/updated: newest first, due: soonest first; a leading - reverses"})
    mine = fields.Boolean(load_default=False, metadata={"description": "only the cases you started"})


class HistoryArgs(Schema):
    """Paging of an instance's history (oldest first)."""

    page = _page_fields(100, 1000)["page"]
    per_page = _page_fields(100, 1000)["per_page"]


class TaskListArgs(PageArgs):
    """Filters of the task list."""

    scope = fields.String(load_default="mine", validate=validate.OneOf(SCOPES),
                          metadata={"description": "mine: assigned to me; group: my roles' unclaimed tasks; "
                                                   "all: every task (admins and managers)"})
    status = fields.String(load_default="open", validate=validate.OneOf(TASK_STATUSES))
    instance_id = fields.Integer(validate=validate.Range(1, MAX_ID))


class DeployArgs(Schema):
    """Optional file name of a raw BPMN upload (shown in problems and the version list)."""

    filename = Text(max_length=255, validate=[validate.Regexp(r"^[^/\\]*$", error="a file name, not a path")])
    dialect = fields.String(load_default="bpmn", validate=validate.OneOf(("bpmn", "camunda")),
                            metadata={"description": "`camunda`: a Camunda 7 file, converted to this "
                                                     "product's extensions first; the answer carries the "
                                                     "conversion report"})


class XmlArgs(Schema):
    """Which version's XML; the newest when left out."""

    version = fields.Integer(validate=validate.Range(1, 2**31 - 1))


class StartIn(Schema):
    """Start an instance of the newest version of a process."""

    process_key = _key_field(required=True)
    data = JsonObject(load_default=dict, metadata={"description": "the start form's fields"})


class EmptyIn(Schema):
    """No fields: send {} or no body at all."""


class ReasonIn(Schema):
    """An optional reason, kept in the instance history."""

    reason = Text(load_default="", max_length=500)


class CompleteIn(Schema):
    """The task form's fields."""

    data = JsonObject(load_default=dict, metadata={"description": "field name → value, as the task's "
                                                                  "form describes"})


class ReassignIn(Schema):
    """The user who gets the task (must hold its role)."""

    assignee = Text(required=True, max_length=64, validate=[validate.Length(min=1)])


class LedgerArgs(PageArgs):
    """Filters of the hazardous-goods register."""

    item = fields.String(validate=validate.OneOf(list(HAZARD_ITEMS)))
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "csv: the 登記表 export (every line, no paging)"})


class StockIn(Schema):
    """Goods received from the warehouse."""

    item = fields.String(required=True, validate=validate.OneOf(list(HAZARD_ITEMS)))
    quantity = fields.Float(required=True, allow_nan=False,
                            validate=validate.Range(min=0.001, max=MAX_QUANTITY))
    note = Text(load_default="", max_length=500)


class KpiArgs(Schema):
    """The period, as calendar days in the business calendar's time zone (both included)."""

    from_ = fields.Date(data_key="from", attribute="from", validate=validate.Range(FIRST_DAY, LAST_DAY),
                        metadata={"description": "first day (default: the first of this month)"})
    to = fields.Date(validate=validate.Range(FIRST_DAY, LAST_DAY),
                     metadata={"description": "last day, included (default: today)"})

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "from" in data and "to" in data and data["to"] < data["from"]:
            raise ValidationError("must not be before 'from'", field_name="to")
