"""Error responses: JSON in the API's one error shape under /api/, friendly HTML pages elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .auth import is_api_request
from .extensions import db

# Titles and explanations for the pages staff actually meet; other codes use the generic text.
_PAGES: dict[int, tuple[Any, Any]] = {
    400: (_l("The request could not be understood"),
          _l("Please go back, reload the page and try again.")),
    401: (_l("Please sign in"), _l("You need to sign in to see this page.")),
    403: (_l("Not allowed"), _l("Your roles do not allow this. Ask an administrator if you need access.")),
    404: (_l("Page not found"), _l("The page or record does not exist, or it has been removed.")),
    405: (_l("Not allowed"), _l("This address cannot be used this way.")),
    409: (_l("Changed meanwhile"), _l("Someone else changed this meanwhile. Reload and check.")),
    413: (_l("Too large"), _l("The upload is too large.")),
    500: (_l("Something went wrong"),
          _l("The error has been logged. Please try again; if it persists, tell an administrator.")),
}
_GENERIC = (_l("Something went wrong"), _l("Please go back and try again."))
_CSRF = (_l("The form has expired"), _l("Please reload the page and submit the form again."))
# Headers of the original error worth keeping (Allow on 405, Retry-After, WWW-Authenticate …).
_DROP_HEADERS = {"content-type", "content-length"}


def error_code(exc: HTTPException) -> str:
    """Return the machine-readable code of an HTTP error, e.g. not_found."""
    explicit = getattr(exc, "error_code", None)
    if isinstance(explicit, str):
        return explicit
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def _fields(exc: HTTPException) -> dict[str, Any]:
    # webargs/flask-smorest put per-field messages into exc.data["messages"].
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        messages = data.get("messages")
        if isinstance(messages, dict):
            # Location-keyed ({"json": {...}}) when from webargs; flatten the single location.
            if len(messages) == 1 and isinstance(next(iter(messages.values())), dict):
                return dict(next(iter(messages.values())))
            return dict(messages)
    return {}


def handle_http_error(exc: HTTPException) -> tuple[Response, int]:
    """Render an HTTP error as JSON for the API or as a page for people."""
    code = exc.code or 500
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() not in _DROP_HEADERS]
    if code >= 500:
        # Whatever the failed unit of work left in the session must not leak into the error page.
        db.session.rollback()
    if is_api_request():
        message = exc.description if code < 500 else "internal error"
        body = {"error": error_code(exc), "message": message, "fields": _fields(exc)}
        response = jsonify(body)
        response.headers.extend(headers)
        return response, code
    title, message = _CSRF if isinstance(exc, CSRFError) else _PAGES.get(code, _GENERIC)
    page = Response(render_template("error.html", code=code, title=title, message=message),
                    status=code, mimetype="text/html")
    page.headers.extend(headers)
    return page, code


def register_error_handlers(app: Flask) -> None:
    """Route every HTTP error (and unhandled exceptions, as 500) through handle_http_error."""
    app.register_error_handler(HTTPException, handle_http_error)
