"""Paper-form views of the registers: the 危险品使用登记表 CSV and the sealed-key usage log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from department import services
from department.models import HazardLedgerLine, SealedKeyUse
from engine.calendar import DEFAULT_ZONE
from engine.errors import InvalidData
from engine.store.models import HistoryEvent, ProcessInstance

# Columns of 危险品使用登记表 (seed 001 制度11 §2.0, §4.0): when, what, which movement, how much,
# what is left, what for and where, who drew it, who approved and issued it, who holds the key.
HAZARD_COLUMNS = ("日期", "时间", "品名", "类别", "数量", "结存", "用途", "使用地点", "领用人",
                  "批准人(发放人)", "钥匙保管人", "经办人", "流程单号", "备注")
KIND_LABELS = {"stock_in": "入库", "issue": "领用", "return": "退回"}

# Steps of sealed_key_usage whose completion is an approval or confirmation in the log.
APPROVAL_STEPS = ("manager_request", "gm_approval", "confirm_with_unit_head", "manager_approval")


def _local(moment: datetime, zone: tzinfo) -> datetime:
    """Return a stored UTC moment in local time (the register is kept in the building's time zone)."""
    return moment.astimezone(zone)


def _quantity(value: float) -> str:
    """Format a quantity without a float's noise (0.1 + 0.2 prints as 0.3)."""
    text = f"{round(float(value), services.QUANTUM):.{services.QUANTUM}f}".rstrip("0").rstrip(".")
    return text or "0"


def _instances(session: Session, ids: Iterable[int | None]) -> dict[int, ProcessInstance]:
    """Load the instances the register lines belong to, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {i.id: i for i in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(wanted)))}


def hazard_register_rows(session: Session, item: str | None = None,
                         zone: tzinfo = DEFAULT_ZONE) -> list[list[str]]:
    """Return the register's lines as rows of HAZARD_COLUMNS, oldest first, dated in zone (the calendar's)."""
    lines = services.ledger_lines(session, item)
    instances = _instances(session, (line.instance_id for line in lines))
    return [_hazard_row(line, instances.get(line.instance_id or 0), zone) for line in lines]


def _hazard_row(line: HazardLedgerLine, inst: ProcessInstance | None, zone: tzinfo) -> list[str]:
    """Return one register line in the paper form's columns."""
    data = dict(inst.data or {}) if inst is not None else {}
    performed = data.get("performed_by") or {}
    at = _local(line.at, zone)
    requester = inst.started_by if inst is not None else ""
    approver = str(performed.get("approve") or "") if inst is not None else ""
    if line.kind == "stock_in":
        requester = approver = ""
    return [
        at.date().isoformat(), at.strftime("%H:%M"),
        services.HAZARD_ITEMS.get(line.item, (line.item, line.item))[0],
        KIND_LABELS.get(line.kind, line.kind), _quantity(line.quantity), _quantity(line.balance_after),
        line.purpose, line.location, requester, approver, line.counterpart or "", line.actor,
        str(line.instance_id or ""), line.note,
    ]


# A cell a spreadsheet would run as a formula (=, +, -, @, or tab/CR before one of them).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def csv_safe(cell: str) -> str:
    """Return the cell with a leading apostrophe if a spreadsheet would run it as a formula."""
    # Free text (purpose, location, notes) comes from staff forms; a plain number such as -2.5 stays
    # as it is, so negative quantities remain numbers in the sheet.
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def hazard_register_csv(session: Session, item: str | None = None, zone: tzinfo = DEFAULT_ZONE) -> str:
    """Return the hazardous-goods register as CSV in the 危险品使用登记表 layout (UTF-8 BOM for Excel)."""
    if item is not None and item not in services.HAZARD_ITEMS:
        raise InvalidData("unknown hazardous item", {"item": [f"unknown item '{item}'; one of "
                                                               f"{', '.join(services.HAZARD_ITEMS)}"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HAZARD_COLUMNS)
    writer.writerows([csv_safe(cell) for cell in row] for row in hazard_register_rows(session, item, zone))
    return "\ufeff" + buffer.getvalue()


def _completions(session: Session, instance_ids: Iterable[int]) -> dict[int, dict[str, HistoryEvent]]:
    """Return the last completion of each user task per instance, from the audit trail."""
    ids = list(instance_ids)
    out: dict[int, dict[str, HistoryEvent]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = session.scalars(select(HistoryEvent).where(
        HistoryEvent.instance_id.in_(ids), HistoryEvent.kind == "task_completed").order_by(HistoryEvent.id))
    for row in rows:
        out[row.instance_id][str(row.element_id)] = row
    return out


def _approval(step: str, event: HistoryEvent) -> dict[str, Any]:
    """Describe one approval step: who, when, and the decision taken."""
    data = (event.details or {}).get("data") or {}
    decision = data.get("unit_head_confirmed") if step == "confirm_with_unit_head" else data.get("approved")
    if step == "manager_request":
        decision = True  # the manager's request to the GM is a step, not a yes/no
    return {"step": step, "by": event.actor, "at": event.at, "approved": decision,
            "note": data.get("request_note") or data.get("unit_head_name") or ""}


def sealed_key_records(session: Session) -> list[dict[str, Any]]:
    """Return every archived sealed-key use with its approvals, witnesses, times and seals, newest first."""
    uses: list[SealedKeyUse] = services.sealed_key_log(session)
    done = _completions(session, (u.instance_id for u in uses))
    records = []
    for use in uses:
        record, steps = dict(use.record or {}), done.get(use.instance_id, {})
        witnesses = [record[k] for k in ("assistant_1", "assistant_2", "security_guard") if record.get(k)]
        resealed = steps.get("reseal")
        records.append({
            "instance_id": use.instance_id, "unit": use.unit, "reason": use.reason,
            "description": record.get("description", ""), "requested_by": record.get("initiator"),
            "applicant_name": record.get("applicant_name"),
            "applicant_company": record.get("applicant_company"),
            "approvals": [_approval(s, steps[s]) for s in APPROVAL_STEPS if s in steps],
            "witnesses": witnesses, "used_by": record.get("used_by"),
            "opened_at": record.get("opened_at"), "closed_at": record.get("closed_at"),
            "actions_taken": record.get("actions_taken"),
            "company_seal_stamped": record.get("company_seal_stamped"),
            "user_signature": record.get("user_signature"),
            "old_seal_number": record.get("old_seal_number"),
            "new_seal_number": record.get("new_seal_number"),
            "resealed_by": resealed.actor if resealed else None,
            "resealed_at": resealed.at if resealed else None,
            "archived_by": use.archived_by, "archived_at": use.archived_at,
            "archive_note": record.get("archive_note") or "",
        })
    return records


INCIDENT_PROCESS = "sealed_key_incident"


def sealed_key_incidents(session: Session) -> list[dict[str, Any]]:
    """Return every sealed-key incident report (opened, damaged, lost) and its handling, newest first."""
    instances = list(session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == INCIDENT_PROCESS).order_by(ProcessInstance.id.desc())))
    done = _completions(session, (i.id for i in instances))
    out = []
    for inst in instances:
        data, steps = dict(inst.data or {}), done.get(inst.id, {})
        handled, signed = steps.get("handle_incident"), steps.get("manager_sign")
        out.append({
            "instance_id": inst.id, "status": inst.status, "unit": data.get("unit"),
            "incident_type": data.get("incident_type"), "discovered_at": data.get("discovered_at"),
            "reported_by": inst.started_by, "reported_at": inst.started_at, "account": data.get("account"),
            "old_seal_number": data.get("old_seal_number"), "findings": data.get("findings"),
            "customer_notified": data.get("customer_notified"), "actions_taken": data.get("actions_taken"),
            "new_seal_number": data.get("new_seal_number"),
            "handled_by": handled.actor if handled else None, "handled_at": handled.at if handled else None,
            "signed_by": signed.actor if signed else None, "signed_at": signed.at if signed else None,
        })
    return out
