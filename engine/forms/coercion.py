"""Reading submitted values as their field type, one field at a time and through a form's schema."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from engine.calendar import DEFAULT_ZONE
from engine.forms.model import TEXT_TYPES, FormDef

# Browsers and JSON clients lose precision on integers beyond 2**53.
MAX_SAFE_INTEGER = 2**53 - 1

_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
# A phone number as people write it: digits, an optional leading +, spaces, dashes, parentheses,
# and an extension after "转" or "ext"; at least 3 digits (110, 95598) and at most 20.
_PHONE_RE = re.compile(r"\+?[0-9()][0-9 ()-]*(\s*(转|ext\.?|x)\s*[0-9]+)?", re.IGNORECASE)
_PHONE_DIGITS = (3, 20)
NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


class Invalid(ValueError):
    """A value cannot be read as the field's type; `code` names the message."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def is_blank(value: Any) -> bool:
    """Tell whether a submitted value counts as not given (HTML forms send empty strings)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _plain(value: str) -> str:
    """Fold full-width digits and signs (Chinese input methods) to ASCII and strip."""
    return unicodedata.normalize("NFKC", value).strip()


def to_text(value: Any) -> str:
    """Read a text value."""
    # PostgreSQL's jsonb refuses NUL characters; catch them here rather than at commit.
    if not isinstance(value, str) or "\x00" in value:
        raise Invalid("invalid_text")
    return value.strip()


def to_integer(value: Any) -> int:
    """Read a whole number; bools and fractions are refused."""
    if isinstance(value, bool):
        raise Invalid("invalid_integer")
    if isinstance(value, float | Decimal):
        if not (math.isfinite(value) and value == int(value)):
            raise Invalid("invalid_integer")
        value = int(value)
    elif isinstance(value, str):
        text = _plain(value)
        if not _INTEGER_RE.fullmatch(text) or len(text) > 20:
            raise Invalid("invalid_integer")
        value = int(text)
    if not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise Invalid("invalid_integer")
    return value


def to_number(value: Any) -> float:
    """Read a finite decimal number, also from the strings HTML forms send."""
    if isinstance(value, bool):
        raise Invalid("invalid_number")
    if isinstance(value, str):
        value = _plain(value)
        # float() alone would also take "nan", "inf" and "1_000".
        if not NUMBER_RE.fullmatch(value):
            raise Invalid("invalid_number")
    if not isinstance(value, int | float | Decimal | str):
        raise Invalid("invalid_number")
    try:
        number = float(value)
    except (OverflowError, ValueError) as exc:
        raise Invalid("invalid_number") from exc
    if not math.isfinite(number):
        raise Invalid("invalid_number")
    return number


def to_phone(value: Any) -> str:
    """Read a phone number: digits with +, spaces, dashes or parentheses; letters are refused."""
    if not isinstance(value, str):
        raise Invalid("invalid_phone")
    text = " ".join(_plain(value).split())
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_RE.fullmatch(text) or not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
        raise Invalid("invalid_phone")
    return text


def to_boolean(value: Any) -> bool:
    """Read yes/no from JSON booleans, 0/1 or the strings checkboxes and selects send."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise Invalid("invalid_boolean")


def to_choice(value: Any, options: Collection[str]) -> str:
    """Read one of the option values."""
    if not isinstance(value, str) or value.strip() not in options:
        raise Invalid("invalid_choice")
    return value.strip()


def parse_date(value: Any) -> date:
    """Read an ISO date (or a date object)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise Invalid("invalid_date")
    try:
        return date.fromisoformat(_plain(value))
    except ValueError as exc:
        raise Invalid("invalid_date") from exc


def parse_datetime(value: Any, zone: tzinfo = DEFAULT_ZONE) -> datetime:
    """Read an ISO datetime as an aware datetime; a naive one is wall time in zone (the calendar's)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(_plain(value))
        except ValueError as exc:
            raise Invalid("invalid_datetime") from exc
    if not isinstance(value, datetime):
        raise Invalid("invalid_datetime")
    return value if value.tzinfo else value.replace(tzinfo=zone)


def to_date(value: Any) -> str:
    """Read a date, normalised to YYYY-MM-DD."""
    return parse_date(value).isoformat()


def to_datetime(value: Any, zone: tzinfo = DEFAULT_ZONE) -> str:
    """Read a datetime, normalised to an ISO UTC string; a naive one is wall time in zone."""
    try:
        return parse_datetime(value, zone).astimezone(UTC).isoformat()
    except OverflowError as exc:  # year 1 or 9999 shifted across midnight
        raise Invalid("invalid_datetime") from exc


def to_user(value: Any) -> str:
    """Read a username (whether the user exists is checked against the user store later)."""
    if not isinstance(value, str) or "\x00" in value or not value.strip():
        raise Invalid("invalid_user")
    return value.strip()


def coerce(kind: str, value: Any, options: Collection[str] = (), zone: tzinfo = DEFAULT_ZONE) -> Any:
    """Read a non-blank value as field type `kind` (naive datetimes in zone); raise Invalid with the code."""
    if kind in TEXT_TYPES:
        return to_text(value)
    if kind == "choice":
        return to_choice(value, options)
    if kind == "datetime":
        return to_datetime(value, zone)
    readers = {
        "integer": to_integer, "number": to_number, "boolean": to_boolean, "date": to_date,
        "user": to_user, "phone": to_phone,
    }
    if kind not in readers:
        raise ValueError(f"unknown field type {kind!r}")
    return readers[kind](value)


def invalid_code(kind: str) -> str:
    """Return the message code for a value that is not of type kind."""
    return "invalid_text" if kind in TEXT_TYPES else f"invalid_{kind}"


class FormSchema:
    """Reads a form's submitted values as their field types; a refusal is a message code per field.

    A loop over the fields: marshmallow's Schema.load did the same (coerce, then the length limit) at
    about four times the cost per submission. Built once per deployed form, with its process
    (engine.definitions), so nothing is looked up or hashed per submission.
    """

    def __init__(self, form: FormDef) -> None:
        self.form = form
        self.fields = {f.name: f for f in form.fields}  # by name: a submission names each of its keys
        self.readers = tuple((f.name, f.type, frozenset(o.value for o in f.options), f.length_limit)
                             for f in form.fields)

    def load(self, present: Mapping[str, Any], zone: tzinfo = DEFAULT_ZONE
             ) -> tuple[dict[str, Any], dict[str, str]]:
        """Return the values that passed, read as their types (naive times in zone), and refusals' codes."""
        clean: dict[str, Any] = {}
        refused: dict[str, str] = {}
        for name, kind, options, limit in self.readers:
            if name not in present:
                continue
            try:
                value = coerce(kind, present[name], options, zone)
            except Invalid as exc:
                refused[name] = exc.code
                continue
            if limit and len(value) > limit:
                refused[name] = "too_long"
                continue
            clean[name] = value
        return clean, refused
