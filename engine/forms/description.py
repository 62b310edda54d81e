"""Describing a form's fields for the API and the UI in one language."""

from __future__ import annotations

from typing import Any

from engine.forms.model import TEXT_TYPES, FormDef


def describe_form(form: FormDef, locale: str) -> list[dict[str, Any]]:
    """Describe the form's fields for the API and UI in locale 'zh' or 'en' (zh_CN, en-GB… too)."""
    lang = locale[:2].lower()
    if lang not in ("zh", "en"):
        raise ValueError(f"unsupported locale {locale!r} (use 'zh' or 'en')")
    other = "en" if lang == "zh" else "zh"
    described: list[dict[str, Any]] = []
    for f in form.fields:
        limits = [f.min, f.max]
        if f.type == "integer":
            limits = [int(v) if isinstance(v, float) and v.is_integer() else v for v in limits]
        described.append({
            "name": f.name,
            "type": f.type,
            "label": getattr(f, f"label_{lang}"),
            "required": f.required,
            "required_when": f.required_when,
            "options": [{"value": o.value, "label": getattr(o, f"label_{lang}")} for o in f.options],
            "min": limits[0],
            "max": limits[1],
            "max_length": f.length_limit if f.type in TEXT_TYPES | {"phone"} else None,
            "role": f.role,
            # Help written in one language only is better than none.
            "help": getattr(f, f"help_{lang}") or getattr(f, f"help_{other}"),
            "default": f.default,
        })
        if f.decimals is not None:  # only number fields that limit their precision say so
            described[-1]["decimals"] = f.decimals
    return described
