"""Forms for people: field views built from a form definition, and the answers read back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine.errors import InvalidData
from engine.forms.description import describe_form
from engine.forms.model import NAME_RE, FormDef
from engine.forms.validation import Evaluate, condition_names, required_for
from engine.sandbox.scripting import SandboxEnvironment
from engine.store.inbox import role_holders
from engine.users import active_usernames

from .case_view import CaseModel
from .display import display_names, local_time, number_text, person, pick
from .engine_ext import local_zone
from .i18n import current_locale
from .prefill import pinned_value
from .units import quantity_unit

# `x` or `not x` over a field of the same form: the only required-when shapes the browser can follow;
# conditions over the case data are decided on the server by the engine's own test.
SIMPLE_CONDITION = re.compile(r"\s*(not\s+)?([A-Za-z][A-Za-z0-9_]*)\s*")
RADIO_LIMIT = 4  # up to this many options show as tappable buttons, more as a drop-down


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
    unit: str | None = None  # shown after a quantity's input (瓶, kg)
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
            moment = moment.astimezone(local_zone())
        return moment.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _names_value(limit: Any) -> bool:
    """Tell whether a min/max names another field or variable rather than giving a value."""
    return isinstance(limit, str) and NAME_RE.fullmatch(limit) is not None


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
        # The engine's sandbox, without a unit of work's functions (now(), services): a condition
        # calling one fails here, the field stays shown, and the engine decides on submit.
        self.evaluate: Evaluate = SandboxEnvironment().evaluate

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
        if not value.strip() and submitted is None and kind in ("integer", "number"):
            pinned = pinned_value(self.definition, name, self.case, self.evaluate)
            value = number_text(pinned) if pinned is not None else value
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
            view.unit = quantity_unit(name, self.case)
        elif kind == "phone":
            view.widget, view.inputmode = "tel", "tel"  # the phone keypad; the server judges the value
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
        if condition_names(expression) & self.names:
            return self._answer_condition(view, expression)
        # Only the case so far decides: apply the engine's own test now, so the field shows only
        # when it counts and is marked exactly as the engine will check it on submit.
        field = self.definition.field(view.name)
        assert field is not None  # views are built from this definition's fields
        try:
            needed = required_for(field, self.case, self.evaluate)
        except Exception:  # the engine reports a failing condition on the field when the form is sent
            view.hint = _("Whether this is required depends on other answers.")
            return True
        view.required = needed
        return needed

    def _answer_condition(self, view: FieldView, expression: str) -> bool:
        """Set up a field whose condition reads this form's answers: a browser hint for the simple shapes."""
        match = SIMPLE_CONDITION.fullmatch(expression)
        if match is None or match[2] not in self.names:
            view.hint = _("Whether this is required depends on other answers.")
            return True
        negated, variable = bool(match[1]), match[2]
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

    def _people(self, role: str | None) -> list[Choice]:
        """Return the users a user field may name: holders of its role."""
        usernames = role_holders(self.session, role) if role else active_usernames(self.session)
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
        return number_text(value)


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
