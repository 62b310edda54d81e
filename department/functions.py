"""The service functions BPMN scripts and expressions may call, each given the unit of work's context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from department import quality, services
from department.key_functions import KEY_FUNCTIONS, KEY_SERVICE_PROCESSES
from engine.domain import ServiceContext


def stock_balance(ctx: ServiceContext, item: str) -> float:
    """Return an item's balance, holding its row so a concurrent issue is seen, not raced."""
    return services.stock_balance(ctx.session, item, lock=True)


def _ledger(kind: str) -> Callable[..., float]:
    """Return the script function that writes one register line of a kind; it returns the balance."""

    def write(ctx: ServiceContext, item: str, quantity: float, counterpart: str | None = None) -> float:
        ctx.before_write()
        data = ctx.task_data()
        line = services.ledger_write(
            ctx.session, item=item, kind=kind, quantity=quantity, actor=ctx.actor, now=ctx.now,
            instance_id=ctx.instance_id, counterpart=counterpart,
            purpose=str(data.get("purpose", "")), location=str(data.get("location", "")))
        ctx.service_calls.append({"operation": f"ledger_{kind}", "item": item,
                                  "quantity": line.quantity, "balance": line.balance_after})
        return float(line.balance_after)

    write.__name__ = f"ledger_{kind}"
    return write


ledger_issue = _ledger("issue")
ledger_return = _ledger("return")


def sealed_key_archive(ctx: ServiceContext) -> bool:
    """Write the instance's sealed-key log entry from its task data, signed by the actor."""
    ctx.before_write()
    services.sealed_key_archive(ctx.session, ctx.instance_id, ctx.task_data(), ctx.actor, ctx.now)
    ctx.service_calls.append({"operation": "sealed_key_archive"})
    return True


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "stock_balance": stock_balance,
    "ledger_issue": ledger_issue,
    "ledger_return": ledger_return,
    "sealed_key_archive": sealed_key_archive,
    **quality.FUNCTIONS,
    **KEY_FUNCTIONS,
}
"""Registered name → implementation, as scripts call them."""

SERVICE_PROCESSES: dict[str, frozenset[str]] = {
    "ledger_issue": frozenset({"hazardous_goods_issuance"}),
    "ledger_return": frozenset({"hazardous_goods_issuance"}),
    "sealed_key_archive": frozenset({"sealed_key_usage"}),
    **quality.SERVICE_PROCESSES,
    **KEY_SERVICE_PROCESSES,
}
"""Register-writing name → the processes allowed to write that register (issue 20).

`stock_balance` is left open: it writes nothing, the balance is on the register pages for staff
anyway, and its row lock lasts only the caller's unit of work, which the sandbox budget bounds.
"""
