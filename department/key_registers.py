"""Paper-form views of the key register: the 鑰匙借用登記表 (loans) and the current status per key."""

from __future__ import annotations

import csv
import io
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from department import keys
from department.registers import _completions, csv_safe
from engine.calendar import DEFAULT_ZONE
from engine.store.models import ProcessInstance

LOAN_PROCESS = "key_loan"
# Columns of 鑰匙借用登記表 (seed 001 制度13 §4.1): date, key name or number, purpose, borrower,
# return date and time, the keeper's countersignature.
LOAN_COLUMNS = ("日期", "钥匙名称(编号)", "用途", "借用人", "交还时间", "保管人签收")
PURPOSES = {"viewing": "看房", "maintenance": "维修保养", "inspection": "检查", "other": "其他"}


def _when(moment: datetime | None, zone: tzinfo) -> str:
    """Format a stored moment in the building's time zone, to the minute."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def key_loans(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, Any]]:
    """Return every key lent (issued by its keeper), oldest first, with its return if any."""
    instances = list(session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == LOAN_PROCESS).order_by(ProcessInstance.id)))
    done = _completions(session, (i.id for i in instances))
    out = []
    for inst in instances:
        steps, data = done.get(inst.id, {}), dict(inst.data or {})
        issued = steps.get("issue_key")
        if issued is None:
            continue
        returned = steps.get("return_key")
        contractor = data.get("contractor_name")
        borrower = inst.started_by + (f"（陪同 {contractor}）" if contractor else "")
        purpose = PURPOSES.get(str(data.get("purpose")), str(data.get("purpose")))
        out.append({
            "instance_id": inst.id, "issued_at": issued.at, "issued_by": issued.actor,
            "key_id": data.get("key_id", ""), "key_kind": data.get("key_kind", ""),
            "purpose": f"{purpose}：{data.get('purpose_detail', '')}", "borrower": borrower,
            "approved_by": steps["approve_loan"].actor if "approve_loan" in steps else "",
            "returned_at": returned.at if returned else None,
            "countersigned_by": returned.actor if returned else "",
            "chase_note": data.get("chase_note", ""),
        })
    return out


def key_loan_rows(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[list[str]]:
    """Return the loans as rows of LOAN_COLUMNS, oldest first."""
    return [[_when(loan["issued_at"], zone), str(loan["key_id"]), str(loan["purpose"]), str(loan["borrower"]),
             _when(loan["returned_at"], zone), str(loan["countersigned_by"])]
            for loan in key_loans(session, zone)]


def key_loans_csv(session: Session, zone: tzinfo = DEFAULT_ZONE) -> str:
    """Return the 鑰匙借用登記表 as CSV (UTF-8 with BOM for Excel), formula-like cells neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(LOAN_COLUMNS)
    writer.writerows([csv_safe(cell) for cell in row] for row in key_loan_rows(session, zone))
    return "\ufeff" + buffer.getvalue()


def key_register(session: Session, unit: str | None = None) -> list[dict[str, Any]]:
    """Return the current status of every key (or one), with the history line it rests on."""
    return [{"key_id": row.key_id, "kind": row.kind, "status": row.status, "seal_number": row.seal_number,
             "holder": row.holder, "last_event_id": row.last_event_id, "updated_at": row.updated_at}
            for row in keys.statuses(session, unit)]


def key_history(session: Session, unit: str) -> list[dict[str, Any]]:
    """Return one key's history lines, oldest first (the handover form's record)."""
    return [{"id": line.id, "event": line.event, "status_after": line.status_after,
             "seal_after": line.seal_after,
             "holder_after": line.holder_after, "instance_id": line.instance_id, "actor": line.actor,
             "note": line.note, "at": line.at}
            for line in session.scalars(keys.history_query(unit))]


CUSTODY_PROCESS = "key_custody"


def handover_records(session: Session) -> list[dict[str, Any]]:
    """Return every move-in handover (《單元鑰匙交接單》) with its sealing and signature, newest first."""
    instances = list(session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_key == CUSTODY_PROCESS).order_by(ProcessInstance.id.desc())))
    done = _completions(session, (i.id for i in instances))
    out = []
    for inst in instances:
        data, steps = dict(inst.data or {}), done.get(inst.id, {})
        handed = steps.get("handover_keys")
        if handed is None:
            continue
        sealed, signed = steps.get("seal_keys"), steps.get("manager_sign")
        out.append({
            "instance_id": inst.id, "unit": data.get("unit"), "customer_name": data.get("customer_name"),
            "handover_form_number": data.get("handover_form_number"),
            "keys_handed_over": data.get("keys_handed_over"), "keys_in_custody": data.get("keys_in_custody"),
            "custody_agreement_reference": data.get("custody_agreement_reference"),
            "customer_signature": data.get("customer_signature"),
            "handed_by": handed.actor, "handed_at": handed.at,
            "seal_number": data.get("seal_number"), "witness": data.get("witness"),
            "sealed_by": sealed.actor if sealed else None, "sealed_at": sealed.at if sealed else None,
            "signed_by": signed.actor if signed else None, "signed_at": signed.at if signed else None,
        })
    return out
