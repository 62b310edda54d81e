"""Marshmallow schemas of what API v1 answers (output only; inputs are in schemas.py)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from engine.store.queries import INSTANCE_STATUSES, TASK_STATUSES

from .schemas import UtcDateTime


class ErrorOut(Schema):
    """The one error shape of the API."""

    error = fields.String(required=True, metadata={"description": "machine-readable code, e.g. not_found"})
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", required=True,
                          metadata={"description": "field or BPMN element id → reasons"})


class PageOut(Schema):
    """Paging figures of a list."""

    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class OptionOut(Schema):
    value = fields.String(required=True)
    label = fields.String(required=True)


class FormFieldOut(Schema):
    """One input of a form, described in the request's language."""

    name = fields.String(required=True)
    type = fields.String(required=True)
    label = fields.String(required=True)
    required = fields.Boolean(required=True)
    required_when = fields.String(allow_none=True, metadata={"description": "expression: required when true"})
    options = fields.List(fields.Nested(OptionOut), required=True)
    min = fields.Raw(allow_none=True)
    max = fields.Raw(allow_none=True)
    max_length = fields.Integer(allow_none=True)
    decimals = fields.Integer(metadata={"description": "number fields: the most decimal places accepted"})
    role = fields.String(allow_none=True,
                         metadata={"description": "user fields: the role the user must hold"})
    help = fields.String(allow_none=True)
    default = fields.Raw(allow_none=True)


class FormOut(Schema):
    fields_ = fields.List(fields.Nested(FormFieldOut), data_key="fields", attribute="fields", required=True)


class TaskOut(Schema):
    """A task as the inbox shows it."""

    id = fields.String(required=True)
    instance_id = fields.Integer(required=True)
    process_key = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "the BPMN element id"})
    title = fields.String(required=True)
    title_zh = fields.String(required=True)
    title_en = fields.String(required=True)
    role = fields.String(required=True)
    assignee = fields.String(allow_none=True, required=True)
    assigned_by_process = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(TASK_STATUSES))
    created_at = UtcDateTime(required=True)
    due_at = UtcDateTime(allow_none=True, required=True)
    overdue = fields.Boolean(required=True)
    claimed_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    instance_title = fields.String(required=True)
    form = fields.Nested(FormOut, allow_none=True, required=True)
    can_complete = fields.Boolean(required=True, metadata={
        "description": "whether you may complete it now (role, holder, case status, separation of duties)"})
    blocked_code = fields.String(allow_none=True, required=True, metadata={
        "description": "why not: closed, case_suspended, case_error, case_ended, role, assigned, "
                       "not_starter, not_performer_of"})
    blocked_reason = fields.String(allow_none=True, required=True, metadata={
        "description": "why not, in the language of Accept-Language"})


class TaskPageOut(PageOut):
    items = fields.List(fields.Nested(TaskOut), required=True)


class InstanceOut(Schema):
    """An instance as lists show it."""

    id = fields.Integer(required=True)
    process_key = fields.String(required=True)
    version = fields.Integer(required=True)
    version_id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(INSTANCE_STATUSES))
    outcome = fields.String(allow_none=True, required=True)
    title = fields.String(required=True)
    unit = fields.String(allow_none=True)
    started_by = fields.String(required=True)
    started_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    ended_at = UtcDateTime(allow_none=True)
    next_wakeup_at = UtcDateTime(allow_none=True)
    error = fields.Dict(allow_none=True, required=True,
                        metadata={"description": "status error: message, element_id, line, at"})


class InstanceDetailOut(InstanceOut):
    """An instance with its data and open tasks."""

    data = fields.Dict(required=True)
    open_tasks = fields.List(fields.Nested(TaskOut), required=True)


class InstancePageOut(PageOut):
    items = fields.List(fields.Nested(InstanceOut), required=True)


class HistoryEventOut(Schema):
    """One history row: who did what, when."""

    id = fields.Integer(required=True)
    at = UtcDateTime(required=True)
    kind = fields.String(required=True)
    actor = fields.String(allow_none=True)
    element_id = fields.String(allow_none=True)
    task_id = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class HistoryPageOut(PageOut):
    items = fields.List(fields.Nested(HistoryEventOut), required=True)


class VersionOut(Schema):
    version = fields.Integer(required=True)
    id = fields.Integer(required=True)
    deployed_at = UtcDateTime(required=True)
    deployed_by = fields.String(required=True)
    content_hash = fields.String(required=True)
    running = fields.Integer(required=True, metadata={"description": "instances running on this version"})


class ProcessOut(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    latest_version = fields.Integer(required=True)
    versions = fields.List(fields.Nested(VersionOut), required=True)


class ProcessDetailOut(ProcessOut):
    starters = fields.List(fields.String(), required=True,
                           metadata={"description": "roles that may start it (empty: any staff)"})
    start_form = fields.Nested(FormOut, allow_none=True, required=True)


class ProcessPageOut(PageOut):
    items = fields.List(fields.Nested(ProcessOut), required=True)


class ConversionLineOut(Schema):
    """One line of a Camunda conversion report."""

    element_id = fields.String(required=True)
    element_name = fields.String(required=True)
    converted = fields.Boolean(required=True, metadata={"description": "false: could not be converted (why)"})
    message = fields.String(required=True)


class DeployOut(Schema):
    process_key = fields.String(required=True)
    version = fields.Integer(required=True)
    version_id = fields.Integer(required=True)
    created = fields.Boolean(required=True,
                             metadata={"description": "false: identical to a deployed version"})
    conversion = fields.List(fields.Nested(ConversionLineOut),
                             metadata={"description": "dialect=camunda: what was converted and what not"})


class LedgerLineOut(Schema):
    """One line of the hazardous-goods register."""

    id = fields.Integer(required=True)
    item = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("stock_in", "issue", "return")))
    quantity = fields.Float(required=True)
    balance_after = fields.Float(required=True)
    instance_id = fields.Integer(allow_none=True)
    actor = fields.String(required=True)
    counterpart = fields.String(allow_none=True)
    purpose = fields.String()
    location = fields.String()
    note = fields.String()
    at = UtcDateTime(required=True)


class BalanceOut(Schema):
    item = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    balance = fields.Float(required=True)


class LedgerPageOut(PageOut):
    items = fields.List(fields.Nested(LedgerLineOut), required=True)
    balances = fields.List(fields.Nested(BalanceOut), required=True)


class ApprovalOut(Schema):
    """One approval or confirmation step of a sealed-key use."""

    step = fields.String(required=True)
    by = fields.String(allow_none=True, required=True)
    at = UtcDateTime(required=True)
    approved = fields.Raw(allow_none=True, metadata={"description": "the decision taken (true/false)"})
    note = fields.Raw(allow_none=True)


class SealedKeyUseOut(Schema):
    """One archived sealed-key use: the before/after record the manager signed."""

    instance_id = fields.Integer(required=True)
    unit = fields.String(required=True)
    reason = fields.String(required=True)
    description = fields.Raw(allow_none=True)
    requested_by = fields.Raw(allow_none=True)
    applicant_name = fields.Raw(allow_none=True)
    applicant_company = fields.Raw(allow_none=True)
    approvals = fields.List(fields.Nested(ApprovalOut), required=True)
    witnesses = fields.List(fields.Raw(), required=True,
                            metadata={"description": "emergency openings: two assistants and a guard"})
    used_by = fields.Raw(allow_none=True)
    opened_at = fields.Raw(allow_none=True)
    closed_at = fields.Raw(allow_none=True)
    actions_taken = fields.Raw(allow_none=True)
    company_seal_stamped = fields.Raw(allow_none=True)
    user_signature = fields.Raw(allow_none=True)
    old_seal_number = fields.Raw(allow_none=True)
    new_seal_number = fields.Raw(allow_none=True)
    resealed_by = fields.String(allow_none=True)
    resealed_at = UtcDateTime(allow_none=True)
    archived_by = fields.String(required=True)
    archived_at = UtcDateTime(required=True)
    archive_note = fields.Raw(allow_none=True)


class SealedKeyPageOut(PageOut):
    items = fields.List(fields.Nested(SealedKeyUseOut), required=True)


class FigureOut(Schema):
    numerator = fields.Integer(required=True)
    denominator = fields.Integer(required=True)
    ratio = fields.Float(allow_none=True, required=True)
    target = fields.Float(required=True)
    met = fields.Boolean(allow_none=True, required=True)


class MissOut(Schema):
    instance_id = fields.Integer(required=True)
    task_id = fields.String(required=True)
    deadline = fields.String(required=True)
    completed_at = fields.String(allow_none=True)


class KpiOut(FigureOut):
    key = fields.String(required=True)
    title = fields.String(required=True)
    title_zh = fields.String(required=True)
    title_en = fields.String(required=True)
    pending = fields.Integer(required=True)
    breakdowns = fields.Dict(keys=fields.String(),
                             values=fields.Dict(keys=fields.String(), values=fields.Nested(FigureOut)),
                             required=True)
    missed = fields.List(fields.Nested(MissOut), required=True)
    cases = fields.List(fields.Integer(), required=True,
                        metadata={"description": "instances behind a register-based figure (issue 14)"})


class KpiReportOut(Schema):
    from_ = fields.String(data_key="from", attribute="from", required=True)
    to = fields.String(required=True)
    kpis = fields.List(fields.Nested(KpiOut), required=True)
    quality_facts = fields.Dict(required=True,
                                metadata={"description": "anomaly counts and mean hours to close"})
