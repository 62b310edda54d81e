"""Case registers of seed 000 §5: 投訴處理記錄表, 來電來訪處理記錄表 and the repair work-order register.

Each register is read from the cases themselves (instance data and the audit trail's completions), so it
can never disagree with the process: one row per complaint, per call or visit, per repair work order,
each carrying its case number (流程单号). The CSV uses the paper form's column headings (UTF-8 with BOM
for Excel); cells a spreadsheet would run as formulas are neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from department.registers import _completions, csv_safe
from engine.calendar import DEFAULT_ZONE
from engine.store.models import HistoryEvent, ProcessInstance

REPAIR, COMPLAINT = "repair_dispatch", "complaint_handling"
Column = tuple[str, str]  # (JSON key, the paper form's heading)

# 投訴處理記錄表 (000 附 客戶投訴處理規程 4.4.1.8, 4.4.2.1, 4.4.2.4, 4.4.4.2, §5.1): what was received, how
# severe, who owns it, where it went, what was found and done, what the customer was told, the callback.
COMPLAINT_COLUMNS: tuple[Column, ...] = (
    ("case", "流程单号"), ("received_at", "受理时间"), ("channel", "投诉渠道"), ("complainant", "投诉人"),
    ("contact_phone", "联系电话"), ("unit", "单元"), ("content", "投诉内容"), ("severity", "严重程度"),
    ("receiver", "接待人(首问负责人)"), ("handling_due", "答复期限"), ("department", "转呈部门"),
    ("forwarded_at", "转呈时间"), ("valid", "有效投诉"), ("findings", "调查结果"),
    ("corrective_action", "纠正措施"), ("informed_at", "告知客户时间"), ("customer_told", "告知记录"),
    ("callback_at", "回访时间"), ("callback_by", "回访人"), ("callback_method", "回访方式"),
    ("satisfied", "客户满意"), ("signed_by", "投诉人签字"), ("status", "状态"),
)
# 來電來訪處理記錄表 (§5.2, 4.4.1.8): every call or visit the desk received, repair requests and complaints.
CALL_VISIT_COLUMNS: tuple[Column, ...] = (
    ("case", "流程单号"), ("received_at", "日期时间"), ("channel", "来电/来访"), ("caller", "姓名"),
    ("contact_phone", "联系电话"), ("unit", "单元"), ("subject", "事由"), ("kind", "类别"),
    ("receiver", "受理人"), ("outcome", "处理结果"), ("status", "状态"),
)
# 服務工作單 / repair work orders (§二.1): one row per request, its case number on every work order.
WORK_ORDER_COLUMNS: tuple[Column, ...] = (
    ("case", "流程单号"), ("received_at", "受理时间"), ("reporter", "报修人"), ("contact_phone", "联系电话"),
    ("unit", "单元"), ("description", "报修内容"), ("category", "服务类别"), ("paid", "有偿服务"),
    ("trade", "工种"), ("technician", "维修技工"), ("dispatched_at", "派工时间"), ("arrived_at", "到场时间"),
    ("work_done_at", "完工时间"), ("result", "处理结果"), ("charge_amount", "收费金额"),
    ("substitute", "代维"), ("callback_at", "回访时间"), ("callback_method", "回访方式"),
    ("satisfied", "客户满意"), ("status", "状态"),
)
CHANNELS = {"phone": "来电", "visit": "来访", "email": "邮件", "staff": "员工报修"}
SEVERITIES = {"major": "重大", "general": "一般", "minor": "轻微"}
CATEGORIES = {"repair": "工程维修", "housekeeping": "管家部协助", "security": "保安部协助",
              "consultation": "咨询"}
METHODS = {"phone": "电话回访", "face_to_face": "面对面回访"}
STATUSES = {"running": "处理中", "completed": "已结案", "terminated": "已终止", "error": "异常"}


def case_number(instance_id: int) -> str:
    """Return the case number printed on every form of a case."""
    return f"{instance_id:06d}"


def _when(moment: datetime | None, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def _iso_when(value: Any, zone: tzinfo) -> str:
    """Format an ISO moment a process wrote into its data, in local time."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return _when(datetime.fromisoformat(value.replace("Z", "+00:00")), zone)
    except ValueError:
        return value


def _yes_no(value: Any) -> str:
    return "" if value is None else ("是" if value is True else "否")


def _cases(session: Session, key: str) -> list[ProcessInstance]:
    return list(session.scalars(select(ProcessInstance).where(ProcessInstance.process_key == key)
                                .order_by(ProcessInstance.id)))


def complaint_rows(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, str]]:
    """Return the complaint register (投訴處理記錄表), one row per complaint, oldest first."""
    cases = _cases(session, COMPLAINT)
    done = _completions(session, (c.id for c in cases))
    rows = []
    for inst in cases:
        data, steps = dict(inst.data or {}), done[inst.id]
        informed = steps.get("inform_customer") or steps.get("explain_and_assist")
        callback = steps.get("callback")
        rows.append({
            "case": case_number(inst.id), "received_at": _when(inst.started_at, zone),
            "channel": CHANNELS.get(str(data.get("channel")), str(data.get("channel", ""))),
            "complainant": str(data.get("complainant", "")),
            "contact_phone": str(data.get("contact_phone", "")),
            "unit": str(data.get("unit", "")), "content": str(data.get("content", "")),
            "severity": SEVERITIES.get(str(data.get("severity")), ""),
            "receiver": str(data.get("owner") or inst.started_by),
            "handling_due": _iso_when(data.get("handling_due"), zone),
            "department": str(data.get("department", "")), "forwarded_at": _at(steps.get("forward"), zone),
            "valid": _yes_no(data.get("valid")), "findings": str(data.get("findings", "")),
            "corrective_action": str(data.get("corrective_action", "")), "informed_at": _at(informed, zone),
            "customer_told": str(data.get("notification_record") or data.get("communication_record")
                                 or data.get("intake_answer") or ""),
            "callback_at": _at(callback, zone), "callback_by": str(callback.actor or "") if callback else "",
            "callback_method": METHODS.get(str(data.get("callback_method")), ""),
            "satisfied": _yes_no(data.get("satisfied")), "signed_by": str(data.get("signed_by", "")),
            "status": STATUSES.get(inst.status, inst.status),
        })
    return rows


def work_order_rows(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, str]]:
    """Return the repair work-order register, one row per request with its case number, oldest first."""
    cases = _cases(session, REPAIR)
    done = _completions(session, (c.id for c in cases))
    rows = []
    for inst in cases:
        data, steps = dict(inst.data or {}), done[inst.id]
        arrived = steps.get("arrive_on_site") or steps.get("assist")
        rows.append({
            "case": case_number(inst.id), "received_at": _when(inst.started_at, zone),
            "reporter": str(data.get("reporter_name", "")),
            "contact_phone": str(data.get("contact_phone", "")),
            "unit": str(data.get("unit", "")), "description": str(data.get("description", "")),
            "category": CATEGORIES.get(str(data.get("category")), ""), "paid": _yes_no(data.get("paid")),
            "trade": str(data.get("trade", "")), "technician": str(data.get("technician", "")),
            "dispatched_at": _at(steps.get("dispatch"), zone), "arrived_at": _at(arrived, zone),
            "work_done_at": _iso_when(data.get("work_done_at"), zone), "result": str(data.get("result", "")),
            "charge_amount": _number(data.get("charge_amount")),
            "substitute": _yes_no(data.get("substitute_repair")) if "substitute_repair" in data else "",
            "callback_at": _at(steps.get("callback"), zone),
            "callback_method": METHODS.get(str(data.get("callback_method")), ""),
            "satisfied": _yes_no(data.get("satisfied")), "status": STATUSES.get(inst.status, inst.status),
        })
    return rows


def call_visit_rows(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, str]]:
    """Return the call/visit log (來電來訪處理記錄表): every repair request and complaint, by receipt."""
    rows = []
    for order in work_order_rows(session, zone):
        rows.append({"case": order["case"], "received_at": order["received_at"],
                     "channel": _channel_of(order["case"], session), "caller": order["reporter"],
                     "contact_phone": order["contact_phone"], "unit": order["unit"],
                     "subject": order["description"], "kind": f"报修/{order['category']}",
                     "receiver": _starter(order["case"], session), "outcome": order["result"],
                     "status": order["status"]})
    for complaint in complaint_rows(session, zone):
        rows.append({"case": complaint["case"], "received_at": complaint["received_at"],
                     "channel": complaint["channel"], "caller": complaint["complainant"],
                     "contact_phone": complaint["contact_phone"], "unit": complaint["unit"],
                     "subject": complaint["content"], "kind": f"投诉/{complaint['severity']}",
                     "receiver": _starter(complaint["case"], session),
                     "outcome": complaint["customer_told"] or complaint["findings"],
                     "status": complaint["status"]})
    return sorted(rows, key=lambda r: (r["received_at"], r["case"]))


def _channel_of(case: str, session: Session) -> str:
    inst = session.get(ProcessInstance, int(case))
    channel = str((inst.data or {}).get("channel", "")) if inst is not None else ""
    return CHANNELS.get(channel, channel)


def _starter(case: str, session: Session) -> str:
    inst = session.get(ProcessInstance, int(case))
    return inst.started_by if inst is not None else ""


def _at(event: HistoryEvent | None, zone: tzinfo) -> str:
    return _when(event.at, zone) if event is not None else ""


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):g}"


REGISTERS: dict[str, tuple[tuple[Column, ...], Callable[[Session, tzinfo], list[dict[str, str]]]]] = {
    "complaints": (COMPLAINT_COLUMNS, complaint_rows),
    "call-visit-log": (CALL_VISIT_COLUMNS, call_visit_rows),
    "repair-work-orders": (WORK_ORDER_COLUMNS, work_order_rows),
}


def register_csv(name: str, session: Session, zone: tzinfo = DEFAULT_ZONE) -> str:
    """Return a case register as CSV in its paper form's columns (UTF-8 with BOM for Excel)."""
    columns, rows_of = REGISTERS[name]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([heading for _key, heading in columns])
    writer.writerows([csv_safe(row[key]) for key, _heading in columns] for row in rows_of(session, zone))
    return "\ufeff" + buffer.getvalue()
