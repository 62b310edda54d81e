"""History details are a JSON-safe copy of the task data they describe."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from engine.store.history import changes, jsonable


class Level(IntEnum):
    """An int subclass: kept as it is, as JSON writes it as its number."""

    HIGH = 2


def test_details_turn_every_value_into_json_and_copy_containers() -> None:
    nested: list[Any] = [1, {"k": (2, 3)}]
    data = {"s": "文字", "i": 1, "f": 1.5, "b": True, "n": None, "level": Level.HIGH, 3: "int key",
            "t": (1, "a"), "set": {7}, "fs": frozenset({8}), "day": date(2026, 1, 2),
            "at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "amount": Decimal("2.50"), "odd": 1j,
            "nested": nested}
    out = jsonable(data)
    assert out == {"s": "文字", "i": 1, "f": 1.5, "b": True, "n": None, "level": 2, "3": "int key",
                   "t": [1, "a"], "set": [7], "fs": [8], "day": "2026-01-02",
                   "at": "2026-01-02T03:04:00+00:00", "amount": 2.5, "odd": "1j",
                   "nested": [1, {"k": [2, 3]}]}
    assert out["b"] is True and out["level"] is Level.HIGH
    nested[1]["k"] = "changed later"  # a script mutating the data afterwards leaves the row as it was
    assert out["nested"] == [1, {"k": [2, 3]}]


def test_changes_name_each_submitted_value_that_differs_old_and_new() -> None:
    assert changes({"a": 1, "d": date(2026, 1, 1)}, {"a": 1, "d": date(2026, 1, 2), "new": (1,)}) == {
        "d": ["2026-01-01", "2026-01-02"], "new": [None, [1]]}
