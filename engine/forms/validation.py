"""Validating a form submission: types, required fields, limits, users, rules and distinct groups."""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any

from engine.calendar import DEFAULT_ZONE
from engine.forms.coercion import (
    FormSchema,
    Invalid,
    invalid_code,
    is_blank,
    parse_date,
    parse_datetime,
    to_number,
)
from engine.forms.messages import Message, message
from engine.forms.model import NAME_RE, ORDERED_TYPES, FieldDef, FormDef

# dict, not Mapping: the engine's sandbox evaluator takes a dict, and we always pass a fresh one.
Evaluate = Callable[[str, dict[str, Any]], Any]
UserRoles = Callable[[str], frozenset[str] | None]


@lru_cache(maxsize=1024)  # parsing took longer than evaluating; a form's conditions are few and fixed
def condition_names(expression: str) -> frozenset[str]:
    """Return the names a condition reads, so a caller can tell whether it waits for a form's own answers."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return frozenset()
    return frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))


def required_for(field: FieldDef, data: Mapping[str, Any], evaluate: Evaluate) -> bool:
    """Tell whether a field must be answered for this data: required, or its required-when holds.

    The one test both the engine (on submit) and the web form (before answers exist) apply;
    a failing condition raises.
    """
    if field.required:
        return True
    return field.required_when is not None and bool(evaluate(field.required_when, dict(data)))


def as_comparable(kind: str, value: Any, zone: tzinfo = DEFAULT_ZONE) -> float | date | datetime:
    """Read a limit or value for comparison on the field type's scale (local days in zone); raise Invalid."""
    if kind in ("integer", "number"):
        return to_number(value)
    if kind == "date":
        if isinstance(value, datetime) or (isinstance(value, str) and len(value.strip()) > 10):
            return parse_datetime(value, zone).astimezone(zone).date()  # a datetime limit → its local day
        return parse_date(value)
    if kind == "datetime":
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=zone)
        return parse_datetime(value, zone)
    raise ValueError(f"type {kind!r} has no order")


def decimal_places(value: Any) -> int:
    """Return how many decimal places a number is written with (1e-07 → 7, 2.50 → 1, 3.0 → 0)."""
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def show_limit(limit: float | date | datetime, zone: tzinfo = DEFAULT_ZONE) -> str:
    """Format a limit for people: whole numbers without .0, datetimes in the zone's wall time."""
    if isinstance(limit, float):
        return str(int(limit)) if limit.is_integer() else repr(limit)
    if isinstance(limit, datetime):
        return limit.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return limit.isoformat()


def limit_messages(
    form: FormDef, field: FieldDef, value: Any, merged: Mapping[str, Any], refused: Collection[str],
    zone: tzinfo = DEFAULT_ZONE,
) -> list[Message]:
    """Check min/max of a value, each a literal or the value of another field or variable."""
    found = []
    for bound, limit in (("min", field.min), ("max", field.max)):
        label: tuple[str, str] | None = None
        if isinstance(limit, str) and NAME_RE.fullmatch(limit):
            if merged.get(limit) is None or limit in refused:
                continue  # the other value is missing or refused itself: nothing to compare with
            other = form.field(limit)
            label = (other.label_en, other.label_zh) if other else None
            limit = merged[limit]
        if limit is None:
            continue
        try:
            edge: Any = as_comparable(field.type, limit, zone)
        except Invalid:
            found.append(message("rule_error", error=f"the {bound} limit {limit!r} is not comparable"))
            continue
        mine: Any = as_comparable(field.type, value, zone)
        dated = field.type in ("date", "datetime")
        if bound == "min" and mine < edge:
            code = "too_early" if dated else "too_small"
        elif bound == "max" and mine > edge:
            code = "too_late" if dated else "too_large"
        else:
            continue
        shown = show_limit(edge, zone)
        named = (f"{shown} ({label[0]})", f"{shown}（{label[1]}）") if label else shown
        found.append(message(code, limit=named))
    return found


class _Check:
    """The state of validating one submission."""

    def __init__(self, schema: FormSchema, evaluate: Evaluate, zone: tzinfo) -> None:
        self.schema = schema
        self.form = schema.form
        self.evaluate = evaluate
        self.zone = zone
        self.errors: dict[str, list[Message]] = {}

    def add(self, name: str, msg: Message) -> None:
        """Record one reason against a field."""
        self.errors.setdefault(name, []).append(msg)

    def load(self, present: dict[str, Any]) -> dict[str, Any]:
        """Coerce the given values through the schema; return the ones that passed."""
        clean, refused = self.schema.load(present, self.zone)
        for name, code in refused.items():
            field = self.schema.fields[name]  # only declared fields are read
            if code == "too_long":
                self.add(name, message(code, limit=field.length_limit))
            else:
                self.add(name, message(invalid_code(field.type)))
        return clean

    def required(self, field: FieldDef, merged: dict[str, Any]) -> bool:
        """Apply required_for; a failing condition is reported on the field as rule_error.

        A condition reading an answer refused itself is not judged: that answer's error says enough.
        """
        if field.required_when and condition_names(field.required_when) & self.errors.keys():
            return False
        try:
            return required_for(field, merged, self.evaluate)
        except Exception as exc:  # any failure of a process expression is the process's, shown to the user
            self.add(field.name, message("rule_error", error=f"{type(exc).__name__}: {exc}"))
            return False

    def truthy(self, name: str, expr: str, merged: dict[str, Any]) -> bool | None:
        """Evaluate expr; on failure report rule_error on name and return None."""
        try:
            return bool(self.evaluate(expr, merged))
        except Exception as exc:  # any failure of a process expression is the process's, shown to the user
            self.add(name, message("rule_error", error=f"{type(exc).__name__}: {exc}"))
            return None

    def user(self, field: FieldDef, username: str, user_roles: UserRoles) -> None:
        """Check the user exists and holds the field's role."""
        roles = user_roles(username)
        if roles is None:
            self.add(field.name, message("unknown_user"))
        elif field.role and field.role not in roles:
            self.add(field.name, message("missing_role", role=field.role))

    def rules(self, clean: Mapping[str, Any], merged: dict[str, Any], refused: Collection[str]) -> None:
        """Run pf:rules whose field was given and which read no refused answer, then pf:distinct groups."""
        for rule in self.form.rules:
            if rule.field in clean and not (condition_names(rule.expr) & set(refused)) \
                    and self.truthy(rule.field, rule.expr, merged) is False:
                self.add(rule.field, Message("rule", rule.message_en, rule.message_zh))
        for group in self.form.distinct:
            first: dict[Any, str] = {}
            for name in group.fields:
                value = clean.get(name)
                if value is None:
                    continue
                if value not in first:
                    first[value] = name
                    continue
                other = self.form.field(first[value])
                default = message("not_distinct", other=(other.label_en, other.label_zh) if other else "")
                self.add(name, Message("not_distinct", group.message_en or default.en,
                                       group.message_zh or default.zh))


def validate_submission(
    form: FormDef | FormSchema,
    submitted: Mapping[str, Any],
    context: Mapping[str, Any],
    evaluate: Evaluate,
    user_roles: UserRoles,
    zone: tzinfo = DEFAULT_ZONE,
) -> tuple[dict[str, Any], dict[str, list[Message]]]:
    """Check a submission against the form (naive times in zone); return (clean data, field → reasons)."""
    # A deployed form comes as the schema its process was compiled with; a bare FormDef (the web
    # form's preview, tests) is read through a schema built for this call.
    schema = form if isinstance(form, FormSchema) else FormSchema(form)
    form = schema.form
    # Clean data holds only declared fields that passed, so a refused value never reaches the instance.
    check = _Check(schema, evaluate, zone)
    for key in submitted:
        if key not in schema.fields:
            check.add(str(key), message("unknown_field"))
    present: dict[str, Any] = {}
    for field in form.fields:
        value = submitted.get(field.name)
        value = field.default if is_blank(value) else value
        if not is_blank(value):
            present[field.name] = value
    clean = check.load(present)
    merged = {**context, **clean}
    for field in form.fields:
        if field.name in check.errors:
            continue
        if field.name not in clean:
            if check.required(field, merged):
                check.add(field.name, message("required"))
        elif field.type in ORDERED_TYPES:
            for msg in limit_messages(form, field, clean[field.name], merged, check.errors, zone):
                check.add(field.name, msg)
            if field.decimals is not None and decimal_places(clean[field.name]) > field.decimals:
                check.add(field.name, message("too_precise", limit=field.decimals))
        elif field.type == "user":
            check.user(field, clean[field.name], user_roles)
    clean = {name: value for name, value in clean.items() if name not in check.errors}
    # Every error in one round: cross-field rules run over the values that passed on their own,
    # skipping only the rules that read a refused one.
    check.rules(clean, {**context, **clean}, set(check.errors))
    return {name: value for name, value in clean.items() if name not in check.errors}, check.errors
