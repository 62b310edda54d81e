"""Refuse text no database can store (NUL, lone surrogates) in any request field, before a view runs."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from .auth import is_api_request

# NUL is refused by PostgreSQL; a lone surrogate cannot be encoded as UTF-8 by any driver.
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
REASON = "must not contain NUL characters or lone surrogate code points (invalid Unicode)"
MAX_DEPTH = 64  # deeper bodies are refused by the API's own parser with their own reason


def _mark(found: dict[str, Any], path: tuple[str, ...]) -> None:
    """Record the reason at a nested path, in the API's nested field-error shape."""
    node = found
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return  # the parent itself is already refused
        node = child
    node[path[-1]] = [REASON]


def _walk(value: Any, path: tuple[str, ...], found: dict[str, Any], depth: int = 0) -> None:
    """Collect the path of every key or string holding bad text (bad keys shown with '?')."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        if BAD_TEXT.search(value):
            _mark(found, path or ("json",))
    elif isinstance(value, dict):
        for key, item in value.items():
            if BAD_TEXT.search(str(key)):
                _mark(found, (*path, BAD_TEXT.sub("?", str(key))))
            else:
                _walk(item, (*path, str(key)), found, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*path, str(index)), found, depth + 1)


def _names(found: dict[str, Any], prefix: str = "") -> list[str]:
    """Return the dotted names of the refused fields, for people."""
    names: list[str] = []
    for key, item in found.items():
        names += _names(item, f"{prefix}{key}.") if isinstance(item, dict) else [prefix + key]
    return names


def bad_text_fields() -> dict[str, Any]:
    """Return the request's fields (query, form, JSON body) that hold text no database can store."""
    found: dict[str, Any] = {}
    for source in (request.args, request.form):
        for key, values in source.lists():
            for value in (key, *values):
                if isinstance(value, str) and BAD_TEXT.search(value):
                    _mark(found, (BAD_TEXT.sub("?", str(key)),))
    if request.is_json:
        try:
            body = json.loads(request.get_data(cache=True).decode("utf-8"))
        except (ValueError, RecursionError):
            body = None  # the API's parser answers malformed JSON with its own reason
        _walk(body, (), found)
    return found


def refuse_bad_text() -> tuple[Response, int] | None:
    """Answer 422 (API, naming the fields) or a 400 page when any field holds unstorable text."""
    found = bad_text_fields()
    if not found:
        return None
    if is_api_request():
        return jsonify({"error": "invalid_data", "message": "the request has invalid fields",
                        "fields": found}), 422
    page = render_template("error.html", code=400, title=_l("The text cannot be stored"),
                           message=_l("A field holds invisible control characters or broken Unicode "
                                      "(e.g. pasted from another program): %(fields)s. Remove them and "
                                      "try again.", fields=", ".join(sorted(_names(found)))))
    return Response(page, status=400, mimetype="text/html"), 400


def init_text_guard(app: Flask) -> None:
    """Check every request's text fields before any view reads them."""
    app.before_request(refuse_bad_text)
