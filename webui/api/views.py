"""View models: engine query views turned into the API's JSON shapes, in the caller's language."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from engine.forms.description import describe_form
from engine.forms.model import FormDef
from engine.store.eligibility import Block
from engine.store.queries import InstanceView, TaskView

from ..blocked import reason_in


def _fields(view: TaskView | InstanceView, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return a view's fields as a dict without copying their values (asdict deep-copies forms and data)."""
    return {f.name: getattr(view, f.name) for f in fields(view) if f.name not in skip}


def form_dict(form: dict[str, Any] | None, locale: str) -> dict[str, Any] | None:
    """Describe a stored form definition's fields in the caller's language."""
    return None if form is None else {"fields": describe_form(FormDef.from_dict(form), locale)}


def task_dict(view: TaskView, locale: str, block: Block | None) -> dict[str, Any]:
    """Turn a task view into the API's JSON shape, with whether the caller may complete it and why not."""
    out = _fields(view, ("form",))
    out["title"] = view.title_en if locale == "en" else view.title_zh
    out["form"] = form_dict(view.form, locale)
    out["can_complete"] = block is None
    out["blocked_code"] = block.code if block is not None else None
    out["blocked_reason"] = reason_in(locale, block)
    return out


def instance_dict(view: InstanceView, locale: str, *, detail: bool = False,
                  blocks: dict[str, Block | None] | None = None) -> dict[str, Any]:
    """Turn an instance view into the API's JSON shape; with detail, its data and open tasks."""
    out = _fields(view, ("data", "open_tasks"))
    if detail:
        out["data"] = view.data
        out["open_tasks"] = [task_dict(t, locale, (blocks or {}).get(t.id)) for t in view.open_tasks]
    return out
