"""Answers a form's own rules already fix: a return of "issued minus used" is filled in for the user."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.forms.model import FormDef
from engine.forms.validation import Evaluate

# `round(x - (expr), n) == 0` or `x == expr`: the rule pins field x to the value of expr.
_ROUNDED = re.compile(r"\s*round\(\s*([A-Za-z]\w*)\s*-\s*\((.+)\)\s*,\s*\d+\s*\)\s*==\s*0\s*")
_EQUAL = re.compile(r"\s*([A-Za-z]\w*)\s*==\s*(.+)")


def pinned_value(form: FormDef, name: str, case: Mapping[str, Any], evaluate: Evaluate) -> Any | None:
    """Return the value a rule on this field requires, computed from the case so far (None if none)."""
    for rule in form.rules:
        if rule.field != name:
            continue
        match = _ROUNDED.fullmatch(rule.expr) or _EQUAL.fullmatch(rule.expr)
        if match is None or match[1] != name:
            continue
        try:
            value = evaluate(match[2], dict(case))
        except Exception:  # the case lacks a value the rule reads: nothing to suggest
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            return round(value, 3)
    return None
