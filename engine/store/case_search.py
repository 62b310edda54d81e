"""Finding a case from one search box: case number, unit, phone, customer and staff names; sort orders."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, String, cast, exists, false, or_, select

from engine import domain
from engine.actor import Actor
from engine.store.models import ProcessInstance, TaskRow, User

# Sort keys the lists offer: key → columns (newest/soonest first as people expect), ties by id.
SORTS = ("started", "-started", "updated", "-updated", "due", "-due")


def order_by(sort: str) -> list[Any]:
    """Return ORDER BY columns for a sort key of SORTS; '-' means the other direction."""
    column = {"started": ProcessInstance.started_at, "updated": ProcessInstance.updated_at,
              "due": ProcessInstance.due_at}[sort.lstrip("-")]
    # started/updated: newest first by default; due: soonest first (undated last).
    newest_first = sort.lstrip("-") != "due"
    if sort.startswith("-"):
        newest_first = not newest_first
    # Only due may be empty; NULLS LAST elsewhere would keep PostgreSQL from reading the index backwards.
    if newest_first:
        return [column.desc().nulls_last() if column is ProcessInstance.due_at else column.desc(),
                ProcessInstance.id.desc()]
    return [column.asc().nulls_last() if column is ProcessInstance.due_at else column.asc(),
            ProcessInstance.id.asc()]


def _case_number(text: str) -> int | None:
    """Read a case number as printed (000123) or typed (123); None when the text is not one."""
    digits = text.lstrip("#").strip()
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


def matching(text: str) -> ColumnElement[bool]:
    """Return the condition "this case matches the search text" over number, title, unit, data, people."""
    text = text.strip()
    # The data column holds non-ASCII as UTF-8 (engine.store.db.json_text); rows written before that
    # escaped it (e.g. "\\u5f20" for 张), so the search text is also compared escaped the same way.
    escaped = json.dumps(text)[1:-1]
    data = cast(ProcessInstance.data, String)
    staff = select(User.username).where(or_(User.display_name.icontains(text, autoescape=True),
                                            User.username.icontains(text, autoescape=True)))
    holder = exists().where(TaskRow.instance_id == ProcessInstance.id, TaskRow.status == "open",
                            TaskRow.assignee.in_(staff))
    number = _case_number(text)
    if number is not None and len(text) < 4:
        return ProcessInstance.id == number  # "12" is a case number, not every phone holding a 1 and a 2
    return or_(ProcessInstance.id == number if number is not None else false(),
               ProcessInstance.title.icontains(text, autoescape=True),
               ProcessInstance.unit.icontains(text, autoescape=True),
               data.contains(text, autoescape=True), data.icontains(escaped, autoescape=True),
               ProcessInstance.started_by.in_(staff), holder)


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """Return the condition "the actor may read this case" (as get_instance decides) for non-observers."""
    roles = sorted(domain.current().effective_roles(actor.roles))
    involved = exists().where(
        TaskRow.instance_id == ProcessInstance.id,
        or_(TaskRow.assignee == actor.username, TaskRow.completed_by == actor.username,
            (TaskRow.status == "open") & TaskRow.assignee.is_(None) & TaskRow.role.in_(roles)))
    return or_(ProcessInstance.started_by == actor.username, involved)
