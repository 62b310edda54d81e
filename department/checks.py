"""Register checks for `bpm check`: the hazardous-goods balances agree with their ledger lines."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from department.models import HazardLedgerLine, HazardStock
from department.services import QUANTUM

SIGN = {"stock_in": 1, "return": 1, "issue": -1}


def hazard_ledger_balances(session: Session) -> list[str]:
    """Each item's balance must equal the sum of its ledger lines, line by line."""
    out: list[str] = []
    running: dict[str, float] = defaultdict(float)
    for line in session.scalars(select(HazardLedgerLine).order_by(HazardLedgerLine.id)):
        if line.kind not in SIGN:
            out.append(f"ledger line {line.id} has unknown kind {line.kind!r}")
            continue
        running[line.item] = round(running[line.item] + SIGN[line.kind] * float(line.quantity), QUANTUM)
        if abs(running[line.item] - float(line.balance_after)) > 10 ** -QUANTUM / 2:
            out.append(f"ledger line {line.id} ({line.item}) says balance "
                       f"{line.balance_after}, the lines before it add up to {running[line.item]}")
            running[line.item] = float(line.balance_after)  # report each break once, not every line after
    stock = {r.item: float(r.balance) for r in session.scalars(select(HazardStock))}
    totals: dict[str, float] = defaultdict(float)
    for line in session.scalars(select(HazardLedgerLine)):
        totals[line.item] = round(totals[line.item] + SIGN.get(line.kind, 0) * float(line.quantity), QUANTUM)
    for item in sorted(set(stock) | set(totals)):
        if abs(stock.get(item, 0.0) - totals.get(item, 0.0)) > 10 ** -QUANTUM / 2:
            out.append(f"{item}: balance {stock.get(item, 0.0)} but the ledger "
                       f"lines sum to {totals.get(item, 0.0)}")
    return out
