"""Engine messages that stay plain English strings but remember their template, so a UI can translate them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Message(str):
    """English text that also carries its format `template` and `params` (kept untranslated)."""

    template: str
    params: dict[str, Any]

    def __new__(cls, text: str, template: str | None = None,
                params: Mapping[str, Any] | None = None) -> Message:
        # Optional arguments: pickle and copy rebuild a str subclass from its text alone, then restore
        # the attributes from __dict__.
        self = super().__new__(cls, text)
        self.template = text if template is None else template
        self.params = dict(params or {})
        return self


def msg(template: str, **params: Any) -> Message:
    """Return the English message template.format(**params), remembering template and params."""
    return Message(template.format(**params), template, params)
