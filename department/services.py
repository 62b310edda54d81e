"""Service operations processes may call: the hazardous-goods register and the sealed-key log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from department.models import HazardLedgerLine, HazardStock, SealedKeyUse
from engine.errors import Conflict, InvalidData
from engine.forms.validation import decimal_places

# Items of 危險品使用登記表 (seed 001 制度11): id → (中文, English).
HAZARD_ITEMS: dict[str, tuple[str, str]] = {
    "rodenticide": ("鼠药", "Rodenticide"),
    "dichlorvos": ("敌敌畏", "Dichlorvos"),
    "cockroach_bait": ("灭螂药", "Cockroach bait"),  # 滅螂藥, as seed 001 制度11 names it
    "alcohol": ("酒精", "Alcohol"),
    "thinner": ("稀料", "Thinner"),
}
# The unit each item is counted in (the register's 数量 and 结存 columns): id → (中文, English).
HAZARD_UNITS: dict[str, tuple[str, str]] = {
    "rodenticide": ("包", "pack"),
    "dichlorvos": ("瓶", "bottle"),
    "cockroach_bait": ("包", "pack"),
    "alcohol": ("瓶", "bottle"),
    "thinner": ("kg", "kg"),
}
QUANTUM = 3  # quantities are kept to 0.001 so repeated issue/return never drifts below zero


class ServiceError(Exception):
    """A service operation refused its input (unknown item, insufficient stock, …)."""


def _stock_row(session: Session, item: str) -> HazardStock:
    """Return the item's balance row, locked for this transaction."""
    if item not in HAZARD_ITEMS:
        raise ServiceError(f"unknown hazardous item '{item}' (known: {', '.join(HAZARD_ITEMS)})")
    row = session.get(HazardStock, item, with_for_update=True)
    if row is None:
        row = HazardStock(item=item, balance=0.0)
        session.add(row)
        session.flush()
    return row


def stock_balance(session: Session, item: str, *, lock: bool = False) -> float:
    """Return the current balance of an item; with lock, hold its row until the transaction ends."""
    if item not in HAZARD_ITEMS:
        raise ServiceError(f"unknown hazardous item '{item}'")
    # Locked, a form rule checking stock waits for a concurrent issue to commit and sees its result,
    # so the loser is refused with a field error instead of failing later inside the ledger script.
    row = session.get(HazardStock, item, with_for_update=True, populate_existing=True) if lock \
        else session.get(HazardStock, item)
    return float(row.balance) if row is not None else 0.0


def ledger_write(session: Session, *, item: str, kind: str, quantity: float, actor: str, now: datetime,
                 instance_id: int | None = None, counterpart: str | None = None, purpose: str = "",
                 location: str = "", note: str = "") -> HazardLedgerLine:
    """Append one register line and move the running balance; the balance never goes below zero."""
    quantity = round(float(quantity), QUANTUM)
    if quantity <= 0:
        raise ServiceError(f"quantity must be greater than zero, got {quantity}")
    sign = -1 if kind == "issue" else 1
    if kind not in ("stock_in", "issue", "return"):
        raise ServiceError(f"unknown register line kind '{kind}'")
    row = _stock_row(session, item)
    balance = round(float(row.balance) + sign * quantity, QUANTUM)
    if balance < 0:
        raise ServiceError(f"insufficient stock of {item}: balance {row.balance}, requested {quantity}")
    row.balance = balance
    line = HazardLedgerLine(item=item, kind=kind, quantity=quantity, balance_after=balance,
                            instance_id=instance_id, actor=actor, counterpart=counterpart, purpose=purpose,
                            location=location, note=note, at=now)
    session.add(line)
    return line


def stock_in(session: Session, item: str, quantity: Any, note: str, actor: str, now: datetime
             ) -> HazardLedgerLine:
    """Record goods received from the warehouse (the caller checks the actor is foreman or above)."""
    errors: dict[str, list[str]] = {}
    if item not in HAZARD_ITEMS:
        errors["item"] = [f"unknown item; one of {', '.join(HAZARD_ITEMS)}"]
    try:
        qty = float(quantity)
        if not qty > 0 or qty != qty or qty > 1e9:
            raise ValueError
        if decimal_places(qty) > QUANTUM:
            errors["quantity"] = [f"at most {QUANTUM} decimal places: the register counts in 0.001"]
    except (TypeError, ValueError):
        errors["quantity"] = ["must be a number greater than zero"]
    if errors:
        raise InvalidData("stock-in refused", errors)
    return ledger_write(session, item=item, kind="stock_in", quantity=qty, actor=actor, now=now,
                        note=str(note or "")[:500])


def ledger_query(item: str | None = None, *, newest_first: bool = False) -> Select[Any]:
    """Return the query of register lines in entry order, optionally for one item (pages paginate it)."""
    query = select(HazardLedgerLine).order_by(HazardLedgerLine.id.desc() if newest_first
                                              else HazardLedgerLine.id)
    return query.where(HazardLedgerLine.item == item) if item else query


def ledger_lines(session: Session, item: str | None = None) -> list[HazardLedgerLine]:
    """Return register lines, oldest first, optionally for one item."""
    return list(session.scalars(ledger_query(item)))


def balances(session: Session) -> dict[str, float]:
    """Return the balance of every item (zero when never stocked)."""
    rows = {r.item: float(r.balance) for r in session.scalars(select(HazardStock))}
    return {item: rows.get(item, 0.0) for item in HAZARD_ITEMS}


SEALED_KEY_FIELDS = (
    "unit", "reason", "customer_reachable", "description", "applicant_name", "applicant_company",
    "approved", "unit_head_confirmed", "unit_head_name", "assistant_1", "assistant_2", "security_guard",
    "opened_at", "closed_at", "actions_taken", "used_by", "company_seal_stamped", "user_signature",
    "old_seal_number", "new_seal_number", "request_note", "archive_note", "performed_by", "initiator",
    "customer_can_attend", "application_reference", "seal_number_before", "guard_confirmed", "guard_note",
)


def sealed_key_archive(session: Session, instance_id: int, data: dict[str, Any], actor: str,
                       now: datetime) -> SealedKeyUse:
    """Write the sealed-key log entry of an instance, signed by the archiving manager."""
    exists = session.scalar(select(SealedKeyUse).where(SealedKeyUse.instance_id == instance_id))
    if exists is not None:
        raise Conflict("this sealed-key use is already archived", instance_id=instance_id)
    record = {k: data.get(k) for k in SEALED_KEY_FIELDS if k in data}
    row = SealedKeyUse(instance_id=instance_id, unit=str(data.get("unit", "")),
                       reason=str(data.get("reason", "")), record=record, archived_by=actor,
                       archived_at=now)
    session.add(row)
    return row


def sealed_key_log(session: Session) -> list[SealedKeyUse]:
    """Return every archived sealed-key use, newest first."""
    return list(session.scalars(select(SealedKeyUse).order_by(SealedKeyUse.id.desc())))
