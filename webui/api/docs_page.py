"""The API reference page: the OpenAPI document rendered server-side (no CDN, no script)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

bp = Blueprint("api_docs", __name__, template_folder="templates", static_folder="static",
               static_url_path="/api/v1/docs/static")

METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/schemas/"
PREFIX = "/api/v1"


_STRONG = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


@bp.app_template_filter("api_inline")
def inline_markup(text: str) -> Markup:
    """Render the two bits of Markdown the descriptions use (**bold**, `code`), escaping the rest."""
    html = str(escape(text))
    html = _STRONG.sub(r"<strong>\1</strong>", html)
    return Markup(_CODE.sub(r"<code>\1</code>", html))


@dataclass
class Row:
    """One line of a parameter or property table."""

    name: str
    where: str
    type: str
    ref: str | None
    required: bool
    description: str


@dataclass
class Operation:
    """One method on one path, ready for the template."""

    method: str
    path: str
    short_path: str
    anchor: str
    summary: str
    description: str
    parameters: list[Row] = field(default_factory=list)
    bodies: list[Row] = field(default_factory=list)
    responses: list[Row] = field(default_factory=list)


def ref_name(schema: dict[str, Any]) -> str | None:
    """Return the component name a schema refers to, if any."""
    ref = schema.get("$ref", "")
    return ref[len(REF_PREFIX):] if ref.startswith(REF_PREFIX) else None


def type_text(schema: dict[str, Any]) -> str:
    """Describe a JSON schema in a few words: type, format, bounds, choices."""
    name = ref_name(schema)
    if name:
        return name
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_text(schema.get('items') or {})}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_text(schema['additionalProperties'])}"
    text = f"{kind} ({schema['format']})" if "format" in schema else str(kind)
    if "enum" in schema:
        text += ": " + " | ".join(str(v) for v in schema["enum"])
    bounds = [f"{key} {schema[key]}" for key in ("minimum", "maximum", "minLength", "maxLength")
              if key in schema]
    if bounds:
        text += " [" + ", ".join(bounds) + "]"
    if schema.get("nullable"):
        text += ", nullable"
    return text


def _row(name: str, where: str, schema: dict[str, Any], required: bool, description: str = "") -> Row:
    inner = schema.get("items") if schema.get("type") == "array" else schema
    return Row(name, where, type_text(schema), ref_name(inner or {}), required,
               description or schema.get("description", ""))


def _response_schema(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Resolve a response reference to the response object."""
    ref = response.get("$ref", "")
    if ref.startswith("#/components/responses/"):
        return dict(spec.get("components", {}).get("responses", {}).get(ref.rsplit("/", 1)[1], {}))
    return response


def operations(spec: dict[str, Any]) -> dict[str, list[Operation]]:
    """Group the document's operations by tag (area), in path order."""
    areas: dict[str, list[Operation]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            anchor = re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")
            entry = Operation(method.upper(), path, path.removeprefix(PREFIX) or "/", anchor,
                              op.get("summary", ""), op.get("description", ""))
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                entry.parameters.append(_row(param["name"], param["in"], param.get("schema", {}),
                                             bool(param.get("required")), param.get("description", "")))
            for ctype, media in (op.get("requestBody", {}).get("content") or {}).items():
                entry.bodies.append(_row(ctype, "body", media.get("schema", {}),
                                         bool(op["requestBody"].get("required"))))
            for code, response in op.get("responses", {}).items():
                resolved = _response_schema(spec, response)
                contents = resolved.get("content") or {"": {}}
                for ctype, media in contents.items():
                    entry.responses.append(_row(code, ctype, media.get("schema", {}), False,
                                                resolved.get("description", "")))
            for tag in op.get("tags") or ["other"]:
                areas.setdefault(tag, []).append(entry)
    return areas


def schemas(spec: dict[str, Any]) -> list[tuple[str, str, list[Row]]]:
    """List the component schemas with their properties."""
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        rows = [_row(prop, "", sub, prop in required) for prop, sub in schema.get("properties", {}).items()]
        out.append((name, schema.get("description", ""), rows))
    return out


@bp.get("/api/v1/docs")
def reference() -> str:
    """Show the API reference built from the live OpenAPI document."""
    from . import get_api

    spec = get_api(current_app).spec.to_dict()
    tags = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    return render_template("api/docs.html", spec=spec, info=spec.get("info", {}), tags=tags,
                           areas=operations(spec), schemas=schemas(spec))
