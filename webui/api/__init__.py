"""HTTP API v1 (SPEC §5): flask-smorest Api, one blueprint per area, the OpenAPI document and its page.

Errors keep the app's one JSON shape (webui.errors renders every HTTPException under /api/):
engine errors become ApiError (see common.http_error), webargs validation errors 422 with
per-field reasons, and every 401 under /api/ carries the Basic challenge.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_smorest import Api
from werkzeug.wrappers import Response

from .common import CHALLENGE
from .responses import ErrorOut

PREFIX = "/api/v1"
_EXT_KEY = "bpm_api"

DESCRIPTION = """\
The integration contract of PropertyFlow (物業服務流程), SPEC §5.

**Authentication**: a personal API token, `Authorization: Bearer pf_…` (scripts; created and revoked
on the *API tokens* page or with `bpm tokens`), HTTP Basic with a username and password, or the
browser's sign-in session. Browser calls that change something send the page's CSRF token in
`X-CSRFToken`; token and Basic-auth calls with a JSON or XML body need no CSRF token. Failed Basic
sign-ins count toward the account lock, like the sign-in form.

**Errors** are JSON `{"error": code, "message": text, "fields": {field: [reasons]}}` with status
400 (malformed body), 401 (not signed in; `WWW-Authenticate: Basic realm="PropertyFlow"`),
403 (role or separation of duty), 404, 409 (completed or changed meanwhile), 412 (a deploy's If-Match
no longer names the newest version), 415 (wrong body type), 422 (invalid data; for BPMN uploads
`fields` maps element ids to problems).

**Failed steps**: when a script, expression or assignment fails while a request runs the process,
the request still succeeds (200/201): the change is kept, the instance is in status `error` and its
`error` holds the message and element id; an admin fixes the cause and calls `retry`.

**Lists** answer `{"items": [...], "total", "page", "per_page"}`; moments are ISO-8601 in UTC.
Task forms and titles, and the problems of a refused BPMN upload, follow `Accept-Language` (zh or en;
default zh).
"""


class PropertyFlowApi(Api):
    """flask-smorest Api documenting our error shape instead of flask-smorest's own."""

    ERROR_SCHEMA = ErrorOut

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """Register an area's blueprint; its OpenAPI tag is the area name, not the Flask name."""
        super().register_blueprint(blp, parameters=parameters, **options)
        # flask-smorest names the tag after the blueprint and offers no option; rename the entry
        # it just appended (apispec keeps tags as a plain list of dicts).
        tags = self.spec._tags  # noqa: SLF001
        if tags and tags[-1]["name"] == blp.name:
            tags[-1]["name"] = blp.tag


def _challenge(response: Response) -> Response:
    """Add the Basic challenge to every 401 of the API."""
    if response.status_code == 401 and request.path.startswith("/api/"):
        response.headers.setdefault("WWW-Authenticate", CHALLENGE)
    return response


def init_api(app: Flask) -> PropertyFlowApi:
    """Create the app's Api, register the area blueprints and the documentation page."""
    from . import (
        definitions,
        docs_page,
        instances,
        kpis,
        notes,
        process_operations,
        quality_registers,
        registers,
        tasks,
    )

    app.config.setdefault("API_TITLE", "PropertyFlow API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    spec_options: dict[str, Any] = {
        "info": {"description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"basicAuth": []}, {"session": []}],
        "components": {"securitySchemes": {
            "basicAuth": {"type": "http", "scheme": "basic"},
            "session": {"type": "apiKey", "in": "cookie", "name": app.config["SESSION_COOKIE_NAME"]},
        }},
    }
    app.config.setdefault("API_SPEC_OPTIONS", spec_options)
    api = PropertyFlowApi(app)
    for module in (definitions, process_operations, instances, notes, tasks, registers, quality_registers,
                   kpis):
        api.register_blueprint(module.blp)
    app.register_blueprint(docs_page.bp)
    app.after_request(_challenge)
    app.extensions[_EXT_KEY] = api
    return api


def get_api(app: Flask) -> PropertyFlowApi:
    """Return the app's Api (for the documentation page and tests)."""
    api: PropertyFlowApi = app.extensions[_EXT_KEY]
    return api
