"""A process version's model read for people: the labels, values and titles of a case's data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from .display import local_time, number_text, person, pick
from .units import quantity_unit

# Bookkeeping the engine keeps in the case data; not something staff entered.
INTERNAL_KEYS = frozenset({"initiator", "initiator_roles", "started_at", "performed_by", "instance_id",
                           "outcome", "work_done_at"})


@dataclass(frozen=True)
class FieldInfo:
    """What a version's forms say about one variable: labels, type and option labels."""

    label_zh: str
    label_en: str
    type: str
    options: dict[str, tuple[str, str]]


def _infos(form: Mapping[str, Any] | None) -> dict[str, FieldInfo]:
    """Return what a form says about each of its fields."""
    return {f["name"]: FieldInfo(
        f.get("label_zh") or f["name"], f.get("label_en") or f["name"], f.get("type", "text"),
        {o["value"]: (o.get("label_zh", o["value"]), o.get("label_en", o["value"]))
         for o in f.get("options", [])})
        for f in (form or {}).get("fields", [])}


def value_sources(history: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Return, per variable, the step that last entered it (start form: 'start')."""
    sources: dict[str, str] = {}
    for row in history:
        if row["kind"] in ("started", "task_completed"):
            element = (row.get("element_id") or "start") if row["kind"] == "task_completed" else "start"
            for name in ((row.get("details") or {}).get("data") or {}):
                sources[name] = element
    return sources


class CaseModel:
    """A process version's model read for people: field labels, values and element titles."""

    def __init__(self, model: Mapping[str, Any] | None, names: Mapping[str, str] | None = None) -> None:
        self.model = dict(model or {})
        self.names = dict(names or {})  # username → display name, for user fields
        self.fields: dict[str, FieldInfo] = {}
        # The same name may mean different things in different steps (`result` of a repair or of an
        # assistance), so each step's own labels are kept too.
        self.step_fields: dict[str, dict[str, FieldInfo]] = {"start": _infos(self.model.get("start_form"))}
        for element, task in (self.model.get("tasks") or {}).items():
            self.step_fields[element] = _infos(task.get("form"))
        for infos in self.step_fields.values():  # the start form first: it names the case's own data
            for name, info in infos.items():
                self.fields.setdefault(name, info)

    def _info(self, name: str, element: str | None = None) -> FieldInfo | None:
        return self.step_fields.get(element or "", {}).get(name) or self.fields.get(name)

    def field_label(self, name: str, element: str | None = None) -> str:
        """Return a variable's label in the active language, as the step that asks for it says."""
        info = self._info(name, element)
        return pick(info.label_zh, info.label_en) if info else name

    def field_type(self, name: str) -> str | None:
        """Return the form type of a variable, if a form declares it."""
        info = self.fields.get(name)
        return info.type if info else None

    def usernames(self, data: Mapping[str, Any]) -> list[str]:
        """Return the usernames the data names in user fields."""
        return [v for k, v in data.items() if isinstance(v, str) and self.field_type(k) == "user"]

    def format(self, name: str, value: Any, element: str | None = None) -> str:
        """Render a value for people: yes/no, option labels, people by name, local times; — for nothing."""
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return _("Yes") if value else _("No")
        info = self._info(name, element)
        if info and info.type == "user" and isinstance(value, str):
            return person(self.names, value)
        if info and isinstance(value, str) and value in info.options:
            return pick(*info.options[value])
        if info and info.type == "datetime":
            return local_time(value)
        if info and info.type == "date" and isinstance(value, str):
            try:
                return str(format_date(date.fromisoformat(value), "yyyy-MM-dd"))
            except ValueError:
                return value
        if isinstance(value, float):
            return number_text(value)
        if isinstance(value, list):
            return "、".join(self.format(name, v) for v in value)
        if isinstance(value, dict):
            return "；".join(f"{k}: {self.format(k, v)}" for k, v in value.items())
        return str(value)

    def rows(self, data: Mapping[str, Any], sources: Mapping[str, str] | None = None
             ) -> list[tuple[str, str, str]]:
        """Return (name, label, shown value) of what people entered, in form order.

        `sources` names the step that last set each value, whose own label is then used.
        """
        sources = sources or {}
        entered = {k: v for k, v in data.items() if k not in INTERNAL_KEYS}
        order = [k for k in self.fields if k in entered] + sorted(k for k in entered if k not in self.fields)
        return [(k, self.field_label(k, sources.get(k)), self._with_unit(k, data, sources.get(k)))
                for k in order]

    def _with_unit(self, name: str, data: Mapping[str, Any], element: str | None) -> str:
        """Render a value, a quantity followed by the unit its item is counted in (2 kg)."""
        shown = self.format(name, data[name], element)
        unit = quantity_unit(name, data)
        return f"{shown} {unit}" if unit and shown != "—" else shown

    def element_title(self, element_id: str | None) -> str:
        """Return a BPMN element's title in the active language (its id when it has none)."""
        if not element_id:
            return ""
        task = (self.model.get("tasks") or {}).get(element_id)
        if task:
            return pick(task.get("title_zh"), task.get("title_en")) or element_id
        element = (self.model.get("elements") or {}).get(element_id) or {}
        return pick(element.get("name"), element.get("name_en")) or element_id

    @property
    def name(self) -> str:
        """Return the process's name in the active language."""
        return pick(self.model.get("name_zh"), self.model.get("name_en"))
