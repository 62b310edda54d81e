"""Separation of duties: which rule of a task's spec forbids a person the task, as one pure check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def breach(spec: Mapping[str, Any], started_by: str, username: str,
           performed_by: Mapping[str, str]) -> tuple[str, str] | None:
    """Return (rule, detail) of the separation-of-duty rule forbidding the user this task, or None.

    rule is "not_starter" or "not_performer_of" (detail: the other task's element id); the engine's
    refusal and the read side's "may not do this" notice both ask here, so they never disagree.
    """
    if spec.get("not_starter") and started_by == username:
        return ("not_starter", "")
    for other in spec.get("not_performer_of", []):
        if performed_by.get(other) == username:
            return ("not_performer_of", other)
    return None


def describe(found: tuple[str, str]) -> str:
    """Return the engine's English sentence for a breach."""
    rule, other = found
    if rule == "not_starter":
        return "the person who started this case may not do this step"
    return f"whoever did {other} may not do this step"
