"""The substitute-repair charge-back register (seed 002 代維): each charge-back and the totals per team.

Read from the repair cases themselves (instance data and the audit trail), so no table can drift from
the process: one row per approved substitute repair, the team it is charged against, the estimate and,
once `record_chargeback` is done, the cost deducted from that team's settlement.
"""

from __future__ import annotations

import csv
import io
from datetime import tzinfo
from typing import Any

from sqlalchemy.orm import Session

from department.case_registers import REPAIR, STATUSES, _at, _cases, _number, case_number
from department.registers import _completions, csv_safe
from engine.calendar import DEFAULT_ZONE

Column = tuple[str, str]  # (JSON key, heading)

COLUMNS: tuple[Column, ...] = (
    ("case", "流程单号"), ("team", "被代维班组/合同编号"), ("estate", "被代维苑区"), ("site_address", "路址"),
    ("repair_spot", "部位"), ("approved_at", "批准时间"), ("approved_by", "批准人"),
    ("estimated_cost", "预计代维费用"), ("charged", "扣回金额"), ("recorded_at", "登记时间"),
    ("recorded_by", "登记人"), ("note", "扣款说明"), ("status", "状态"),
)
TOTAL_KEYS = ("team", "cases", "estimated_cost", "charged", "pending")


def rows(session: Session, zone: tzinfo = DEFAULT_ZONE) -> list[dict[str, str]]:
    """Return one row per approved substitute repair, oldest case first."""
    cases = [c for c in _cases(session, REPAIR) if (c.data or {}).get("substitute_approved") is True]
    done = _completions(session, (c.id for c in cases))
    out = []
    for inst in cases:
        data, steps = dict(inst.data or {}), done[inst.id]
        approved, recorded = steps.get("approve_substitute_repair"), steps.get("record_chargeback")
        # The charge-back runs on a branch of its own: its values are read from its completion.
        entered = ((recorded.details or {}).get("data") or {}) if recorded else {}
        out.append({
            "case": case_number(inst.id), "team": str(data.get("responsible_subcontractor", "")),
            "estate": str(data.get("estate", "")), "site_address": str(data.get("site_address", "")),
            "repair_spot": str(data.get("repair_spot", "")), "approved_at": _at(approved, zone),
            "approved_by": str(approved.actor or "") if approved else "",
            "estimated_cost": _number(data.get("estimated_cost")),
            "charged": _number(entered.get("substitute_cost")) if recorded else "",
            "recorded_at": _at(recorded, zone), "recorded_by": str(recorded.actor or "") if recorded else "",
            "note": str(entered.get("chargeback_note", "")),
            "status": "已登记扣回" if recorded else STATUSES.get(inst.status, inst.status),
        })
    return out


def totals(register: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Sum a register per team: cases, estimates, amounts charged back and cases still to be recorded."""
    teams: dict[str, dict[str, Any]] = {}
    for row in register:
        team = teams.setdefault(row["team"], {"team": row["team"], "cases": 0, "estimated_cost": 0.0,
                                              "charged": 0.0, "pending": 0})
        team["cases"] += 1
        team["estimated_cost"] += float(row["estimated_cost"] or 0)
        if row["charged"]:
            team["charged"] += float(row["charged"])
        else:
            team["pending"] += 1
    return sorted(teams.values(), key=lambda t: (-t["charged"], t["team"]))


def register_csv(session: Session, zone: tzinfo = DEFAULT_ZONE) -> str:
    """Return the charge-backs as CSV, then a total line per team (UTF-8 with BOM for Excel)."""
    register = rows(session, zone)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([heading for _key, heading in COLUMNS])
    writer.writerows([csv_safe(row[key]) for key, _heading in COLUMNS] for row in register)
    writer.writerow([])
    writer.writerow(["班组合计", "被代维班组/合同编号", "代维单数", "预计代维费用", "扣回金额", "待登记"])
    for team in totals(register):
        writer.writerow(["", csv_safe(team["team"]), team["cases"], f"{team['estimated_cost']:g}",
                         f"{team['charged']:g}", team["pending"]])
    return "\ufeff" + buffer.getvalue()
