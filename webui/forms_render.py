"""Forms for people: field views built from a form definition, answers read back, case data labelled."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import InvalidData
from engine.form_fields import NAME_RE
from engine.forms import FormDef, describe_form
from engine.inbox import role_holders
from engine.models import User

from .i18n import current_locale

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
# `x` or `not x`: the only required-when shapes the browser can follow; the server checks them all.
SIMPLE_CONDITION = re.compile(r"\s*(not\s+)?([A-Za-z][A-Za-z0-9_]*)\s*")
# Bookkeeping the engine keeps in the case data; not something staff entered.
INTERNAL_KEYS = frozenset({"initiator", "initiator_roles", "started_at", "performed_by", "instance_id",
                           "outcome"})
RADIO_LIMIT = 4  # up to this many options show as tappable buttons, more as a drop-down


def pick(zh: str | None, en: str | None) -> str:
    """Return the text for the active language, falling back to the other one."""
    return (zh or en or "") if current_locale() == "zh" else (en or zh or "")


def case_number(instance_id: int) -> str:
    """Return the case number printed on pages and paper records."""
    return f"{instance_id:06d}"


def local_time(value: datetime | str | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a moment in the tower's timezone (Asia/Shanghai, Babel's default); — when empty."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)  # typed wall-clock times are the tower's
    return str(format_datetime(moment, fmt))


def display_names(session: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """Return username → display name for the given users (unknown users map to themselves)."""
    wanted = sorted({u for u in usernames if u})
    if not wanted:
        return {}
    found = dict(session.execute(select(User.username, User.display_name)
                                 .where(User.username.in_(wanted))).all())
    return {u: found.get(u) or u for u in wanted}


def person(names: Mapping[str, str], username: str | None) -> str:
    """Return 'Display name (username)', or just the username when they are the same."""
    if not username:
        return "—"
    shown = names.get(username, username)
    return username if shown == username else f"{shown}（{username}）"


# ------------------------------------------------------------------------------------ field views


@dataclass(frozen=True)
class Choice:
    """One option of a choice, yes/no or user field."""

    value: str
    label: str


@dataclass
class FieldView:
    """Everything a template needs to draw one field."""

    name: str
    type: str
    widget: str  # text, textarea, number, radios, select, date, datetime, user
    label: str
    value: str
    required: bool
    help: str | None = None
    hint: str | None = None
    show_when: str | None = None  # a field of the same form the browser watches
    show_negated: bool = False
    choices: list[Choice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    max_length: int | None = None
    inputmode: str | None = None
    min_attr: str | None = None
    max_attr: str | None = None


def _input_value(kind: str, value: Any) -> str:
    """Return a stored or default value as the string its input shows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(LOCAL_TZ)
        return moment.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _truthy(value: Any) -> bool:
    """Read a case value the way a condition would (form strings 'false'/'0' are false)."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off")
    return bool(value)


def _names_value(limit: Any) -> bool:
    """Tell whether a min/max names another field or variable rather than giving a value."""
    return isinstance(limit, str) and NAME_RE.fullmatch(limit) is not None


def _number(value: float | str) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


class FormBuilder:
    """Build field views for one form, with the case's data and the people who may be picked."""

    def __init__(self, session: Session, form: Mapping[str, Any] | None, case: Mapping[str, Any],
                 catalog: CaseModel) -> None:
        self.session = session
        self.definition = FormDef.from_dict(form or {})
        self.fields = describe_form(self.definition, current_locale())
        self.names = {f["name"] for f in self.fields}
        self.case = case
        self.catalog = catalog

    def views(self, submitted: Mapping[str, str] | None = None,
              errors: Mapping[str, list[str]] | None = None) -> list[FieldView]:
        """Return the fields to draw; those a case value rules out are left out."""
        errors = errors or {}
        out = []
        for described in self.fields:
            view = self._view(described, submitted, errors.get(described["name"], []))
            if view is not None:
                out.append(view)
        return out

    def _view(self, f: dict[str, Any], submitted: Mapping[str, str] | None,
              errors: list[str]) -> FieldView | None:
        name, kind = f["name"], f["type"]
        value = submitted.get(name, "") if submitted is not None else ""
        if not value.strip():
            value = _input_value(kind, f["default"])  # the engine uses the default for a blank answer
        view = FieldView(name=name, type=kind, widget=kind, label=f["label"], value=value,
                         required=bool(f["required"]), help=f["help"], errors=errors,
                         max_length=f["max_length"])
        if f["required_when"] and not self._condition(view, f["required_when"]):
            return None
        if kind in ("integer", "number"):
            # A text input, not type=number: browsers drop what type=number cannot parse (and
            # full-width digits from Chinese input methods), so the server could not say why.
            view.widget = "number"
            view.inputmode = "numeric" if kind == "integer" else "decimal"
        elif kind == "boolean":
            view.widget = "radios"
            view.choices = [Choice("true", _("Yes")), Choice("false", _("No"))]
        elif kind == "choice":
            view.choices = [Choice(o["value"], o["label"]) for o in f["options"]]
            view.widget = "radios" if len(view.choices) <= RADIO_LIMIT else "select"
        elif kind == "user":
            view.choices = self._people(f["role"])
            view.widget = "select"
        limits = self._limits(kind, f["min"], f["max"])
        view.hint = " ".join(h for h in (view.hint, limits) if h) or None
        if kind in ("date", "datetime"):
            # Literal limits help the browser's picker; a limit naming another value is the server's.
            view.min_attr, view.max_attr = (None if v is None or _names_value(v) else _input_value(kind, v)
                                            for v in (f["min"], f["max"]))
        return view

    def _condition(self, view: FieldView, expression: str) -> bool:
        """Set up a required-when field; return False when the case data rules it out."""
        match = SIMPLE_CONDITION.fullmatch(expression)
        if match is None or match[2] in ("True", "False", "None"):
            view.hint = _("Whether this is required depends on other answers.")
            return True
        negated, variable = bool(match[1]), match[2]
        if variable in self.names:
            view.show_when, view.show_negated = variable, negated
            other = self.definition.field(variable)
            label = pick(other.label_zh, other.label_en) if other else variable
            if other is not None and other.type == "boolean":
                answer = _("No") if negated else _("Yes")
                view.hint = _("Required when “%(field)s” is %(answer)s.", field=label, answer=answer)
            elif negated:
                view.hint = _("Required when “%(field)s” is left empty.", field=label)
            else:
                view.hint = _("Required when “%(field)s” is filled in.", field=label)
            return True
        # The condition reads the case so far: decide now, so the field shows only when it counts.
        needed = _truthy(self.case.get(variable)) != negated
        view.required = needed
        return needed

    def _people(self, role: str | None) -> list[Choice]:
        """Return the users a user field may name: holders of its role."""
        if role:
            usernames = role_holders(self.session, role)
        else:
            usernames = list(self.session.scalars(select(User.username).where(User.active.is_(True))
                                                  .order_by(User.username)))
        names = display_names(self.session, usernames)
        return [Choice(u, person(names, u)) for u in usernames]

    def _limits(self, kind: str, low: Any, high: Any) -> str | None:
        """Describe min/max for people; a limit naming another value shows that value when known."""
        if low is None and high is None:
            return None
        shown = [self._limit(kind, v) for v in (low, high)]
        if kind in ("date", "datetime"):
            if shown[0] and shown[1]:
                return _("From %(low)s to %(high)s.", low=shown[0], high=shown[1])
            if shown[0]:
                return _("Not before %(low)s.", low=shown[0])
            return _("Not after %(high)s.", high=shown[1])
        if shown[0] and shown[1]:
            return _("Between %(low)s and %(high)s.", low=shown[0], high=shown[1])
        if shown[0]:
            return _("At least %(low)s.", low=shown[0])
        return _("At most %(high)s.", high=shown[1])

    def _limit(self, kind: str, value: Any) -> str | None:
        if value is None:
            return None
        if _names_value(value):
            label = self.catalog.field_label(value)
            if value in self.names or self.case.get(value) is None:
                return f"“{label}”"
            return f"{self.catalog.format(value, self.case[value])}（{label}）"
        if kind == "datetime":
            return local_time(value)
        return _number(value)


def read_answers(form: Mapping[str, Any] | None, posted: Mapping[str, str]) -> dict[str, str]:
    """Return the posted values of the form's own fields (blank ones left out; the engine checks the rest)."""
    names = [f["name"] for f in (form or {}).get("fields", [])]
    return {name: posted[name] for name in names if (posted.get(name) or "").strip()}


def submitted_values(form: Mapping[str, Any] | None, posted: Mapping[str, str]) -> dict[str, str]:
    """Return every posted value of the form's fields, blanks included, to redraw the form as sent."""
    return {f["name"]: posted.get(f["name"], "") for f in (form or {}).get("fields", [])}


def field_errors(error: InvalidData) -> dict[str, list[str]]:
    """Return the engine's reasons per field in the active language."""
    lang = current_locale()
    return {name: [getattr(m, lang, None) or getattr(m, "en", None) or str(m) for m in messages]
            for name, messages in error.fields.items()}


def general_errors(per_field: Mapping[str, list[str]], views: list[FieldView]) -> list[str]:
    """Return the reasons given for things that are not drawn fields, e.g. the data as a whole."""
    drawn = {v.name for v in views}
    return [f"{name}: {text}" for name, texts in per_field.items() if name not in drawn for text in texts]


# ------------------------------------------------------------------------------------ case data


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
            return _number(value)
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
        return [(k, self.field_label(k, sources.get(k)), self.format(k, entered[k], sources.get(k)))
                for k in order]

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
