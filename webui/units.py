"""The unit a case's quantity is counted in, from the hazardous-goods item the case is about."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from department import services

from .display import pick

# Number fields of hazardous_goods_issuance that count the case's item.
QUANTITY_FIELDS = frozenset({"quantity", "approved_quantity", "issued_quantity", "used_quantity",
                             "returned_quantity"})


def quantity_unit(name: str, case: Mapping[str, Any]) -> str | None:
    """Return the unit of quantity field name in the active language, None when the case names no item."""
    unit = services.HAZARD_UNITS.get(str(case.get("item") or ""))
    return pick(*unit) if unit and name in QUANTITY_FIELDS else None
