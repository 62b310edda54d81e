"""Per-request protections: CSRF policy, early sign-in, and security headers on every response."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_login import current_user
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Response

from engine.store.db import is_sqlite

from .extensions import csrf, db

# Only our own origin: bpmn-js and chart.js are served from /static/vendor. bpmn-js sets inline
# styles on the canvas, hence 'unsafe-inline' for styles only; data:/blob: images for its icons
# and for exporting diagrams as SVG/PNG.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Content types a cross-site HTML form can send without a CORS preflight.
_FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""})


def _is_script_api_call() -> bool:
    """Tell whether this is an API call authenticated by HTTP Basic or a token with a non-form body.

    Such a request carries its own credentials and a body no cross-site form can produce, so
    the CSRF token (which scripts cannot obtain) is not needed. Browser calls to the API use the
    session cookie and send the token in the X-CSRFToken header.
    """
    auth = request.authorization
    return (request.path.startswith("/api/") and auth is not None and auth.type in ("basic", "bearer")
            and request.mimetype not in _FORM_MIMETYPES)


def _is_anonymous_api_call() -> bool:
    """Tell whether an API call carries no credentials at all: no Authorization header, no cookie.

    Nothing identifies the caller, so nothing can be forged on anyone's behalf; the API then
    answers 401 with its Basic challenge instead of a CSRF error the script cannot act on.
    """
    return request.path.startswith("/api/") and "Authorization" not in request.headers and not request.cookies


def protect_against_csrf() -> None:
    """Require a valid CSRF token on every state-changing request except script API calls."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.method in _UNSAFE_METHODS and not (_is_script_api_call() or _is_anonymous_api_call()):
        csrf.protect(apply_exemptions=True)  # views marked @csrf.exempt stay exempt


def load_user_early() -> None:
    """Resolve the signed-in user before the view runs, then end that read transaction.

    Flask-Login loads lazily on first use of current_user; doing it here means the loaders
    never run in the middle of a view's unit of work, and on SQLite (BEGIN IMMEDIATE) the
    request does not hold the write lock while it only renders pages. A PostgreSQL read
    transaction locks nothing: the view goes on in it, sparing every request a COMMIT and a BEGIN.
    """
    if request.endpoint == "static":
        return
    _ = current_user.is_authenticated
    session = db.session()
    if (session.in_transaction() and not (session.new or session.dirty or session.deleted)
            and is_sqlite(session.get_bind())):
        session.commit()


def add_security_headers(response: Response) -> Response:
    """Set the security headers; keep pages with personal data out of shared caches."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


class PlainServerHandler(WSGIRequestHandler):
    """The development server's request handler, minus Werkzeug's and Python's versions."""

    def version_string(self) -> str:
        """Return the Server header: the product's name only (versions help attackers pick exploits)."""
        return "PropertyFlow"


def init_security(app: Flask) -> None:
    """Register the hooks; the CSRF check runs first so a forged request never reaches a loader."""
    app.before_request(protect_against_csrf)
    app.before_request(load_user_early)
    app.after_request(add_security_headers)
