"""The form model: field types and the definitions of fields, rules, distinct groups and forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = ("text", "textarea", "integer", "number", "boolean", "choice", "date", "datetime", "user",
               "phone")
ORDERED_TYPES = frozenset({"integer", "number", "date", "datetime"})
TEXT_TYPES = frozenset({"text", "textarea"})
# Caps when the BPMN gives none: every value lands in instance state, which is loaded on each step.
DEFAULT_MAX_LENGTH = {"text": 500, "textarea": 10_000, "user": 150, "phone": 40}
# ASCII only: field names are the JSON/HTML integration contract, not just Python identifiers.
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Option:
    """One value of a choice field with its labels."""

    value: str
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class FieldDef:
    """One input of a form; its value becomes the instance variable `name`."""

    name: str
    type: str
    label_zh: str
    label_en: str
    required: bool = False
    required_when: str | None = None
    min: float | str | None = None
    max: float | str | None = None
    max_length: int | None = None
    role: str | None = None
    decimals: int | None = None  # number fields: at most this many decimal places
    options: tuple[Option, ...] = ()
    help_zh: str | None = None
    help_en: str | None = None
    default: Any = None

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name!r} has unknown type {self.type!r}")

    @property
    def length_limit(self) -> int | None:
        """Return the effective maximum length of a text or user value."""
        return self.max_length or DEFAULT_MAX_LENGTH.get(self.type)


@dataclass(frozen=True)
class RuleDef:
    """A cross-field check reported on `field` when `expr` is falsy."""

    field: str
    expr: str
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class DistinctDef:
    """User fields that must name different people (messages None = the built-in one)."""

    fields: tuple[str, ...]
    message_zh: str | None = None
    message_en: str | None = None


_FIELD_KEYS = ("name", "type", "label_zh", "label_en", "required", "required_when", "min", "max",
               "max_length", "role", "help_zh", "help_en", "default", "decimals")


@dataclass(frozen=True)
class FormDef:
    """A form: its fields in display order, cross-field rules and distinct-user groups."""

    fields: tuple[FieldDef, ...] = ()
    rules: tuple[RuleDef, ...] = ()
    distinct: tuple[DistinctDef, ...] = ()

    def field(self, name: str) -> FieldDef | None:
        """Return the field called name, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def expressions(self) -> list[tuple[str, str]]:
        """Return (where, source) of every expression, for the caller to check in the sandbox."""
        found = [(f"pf:field '{f.name}' required-when", f.required_when)
                 for f in self.fields if f.required_when]
        return found + [(f"pf:rule on '{r.field}'", r.expr) for r in self.rules]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict, stored with the deployed version."""
        return {
            "fields": [
                {**{key: getattr(f, key) for key in _FIELD_KEYS},
                 "options": [{"value": o.value, "label_zh": o.label_zh, "label_en": o.label_en}
                             for o in f.options]}
                for f in self.fields
            ],
            "rules": [{"field": r.field, "expr": r.expr, "message_zh": r.message_zh,
                       "message_en": r.message_en} for r in self.rules],
            "distinct": [{"fields": list(d.fields), "message_zh": d.message_zh,
                          "message_en": d.message_en} for d in self.distinct],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FormDef:
        """Rebuild a form from `to_dict` output (absent optional keys take their defaults)."""
        return cls(
            fields=tuple(
                FieldDef(**{k: f[k] for k in _FIELD_KEYS if k in f},
                         options=tuple(Option(**o) for o in f.get("options", ())))
                for f in data.get("fields", ())
            ),
            rules=tuple(RuleDef(**r) for r in data.get("rules", ())),
            distinct=tuple(DistinctDef(tuple(d["fields"]), d.get("message_zh"), d.get("message_en"))
                           for d in data.get("distinct", ())),
        )
