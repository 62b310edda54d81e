"""What every API area shares: the error type, engine-error mapping, the unit of work, language, paging."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from flask import Response, request
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException

from engine import domain
from engine.actor import Actor
from engine.errors import (
    Conflict,
    EngineError,
    Forbidden,
    InvalidBpmn,
    InvalidData,
    NotFound,
    PreconditionFailed,
    ProcessFailure,
)
from engine.store.unit_of_work import run_unit

from ..extensions import db
from ..problem_text import problem_text

T = TypeVar("T")
LOCALES = ("zh", "en")
CHALLENGE = 'Basic realm="PropertyFlow"'


class ApiError(HTTPException):
    """An HTTP error in the API's shape: code, machine-readable error, message, per-field reasons.

    webui.errors renders it: it reads `error_code` and `data["messages"]` (the fields).
    """

    def __init__(self, status: int, error: str, message: str,
                 fields: Mapping[str, Any] | None = None) -> None:
        self.code = status
        super().__init__(description=message)
        self.error_code = error
        self.data = {"messages": dict(fields or {})}


def fail(status: int, error: str, message: str, fields: Mapping[str, Any] | None = None) -> NoReturn:
    """Raise an API error."""
    raise ApiError(status, error, message, fields)


def request_locale() -> str:
    """Return the language the caller asked for in Accept-Language: zh (default) or en."""
    return request.accept_languages.best_match(LOCALES, default="zh") or "zh"


def _field_reasons(exc: InvalidData, locale: str) -> dict[str, list[str]]:
    """Return each refused field's reasons in the caller's language."""
    return {name: [str(getattr(m, locale, m)) for m in msgs] for name, msgs in exc.fields.items()}


def _bpmn_reasons(exc: InvalidBpmn, locale: str) -> dict[str, list[str]]:
    """Group a BPMN file's problems by the element they concern ('bpmn' for the whole file), translated."""
    out: dict[str, list[str]] = {}
    for problem in exc.problems:
        out.setdefault(problem.element_id or "bpmn", []).append(problem_text(problem.message, locale))
    return out


def http_error(exc: EngineError) -> ApiError:
    """Map an engine error to its HTTP error (see docs/api.md, 'Errors')."""
    if isinstance(exc, NotFound):
        return ApiError(404, exc.code, exc.message)
    if isinstance(exc, Forbidden):
        return ApiError(403, exc.code, exc.message)
    if isinstance(exc, Conflict):
        return ApiError(409, exc.code, exc.message)
    if isinstance(exc, PreconditionFailed):
        return ApiError(412, exc.code, exc.message)
    if isinstance(exc, InvalidData):
        return ApiError(422, exc.code, exc.message, _field_reasons(exc, request_locale()))
    if isinstance(exc, InvalidBpmn):
        return ApiError(422, exc.code, exc.message, _bpmn_reasons(exc, request_locale()))
    return ApiError(422, exc.code, exc.message)


def run_command(action: Callable[[], T]) -> tuple[T | None, ProcessFailure | None]:
    """Run one engine command as this request's unit of work (run_unit), mapping errors to HTTP."""
    # A ProcessFailure comes back, committed, as the second value: the caller answers with the
    # instance (status `error`) instead of an error.
    try:
        unit = run_unit(db.session(), action)
    except EngineError as exc:
        raise http_error(exc) from exc
    return unit.value, unit.failure


def read(action: Callable[[], T]) -> T:
    """Run an engine query, mapping its errors to HTTP errors."""
    try:
        return action()
    except EngineError as exc:
        raise http_error(exc) from exc


def require_sign_in() -> None:
    """Answer 401 (with the Basic challenge, added in init_api) unless someone is signed in."""
    if not current_user.is_authenticated:
        fail(401, "unauthorized", "sign in: an API token (Authorization: Bearer), HTTP Basic with your "
                                  "username and password, or the browser session")


def require_roles(who: Actor, roles: Iterable[str], doing: str) -> None:
    """Answer 403 unless the actor holds (or implies) one of the roles."""
    wanted = frozenset(roles)
    if not domain.current().effective_roles(who.roles) & wanted:
        fail(403, "forbidden", f"{doing} needs one of the roles {', '.join(sorted(wanted))}")


def page_of(items: Sequence[T], page: int, per_page: int) -> dict[str, Any]:
    """Cut one page out of a list held in memory."""
    start = (page - 1) * per_page
    return {"items": list(items[start:start + per_page]), "total": len(items), "page": page,
            "per_page": per_page}


def csv_download(text: str, file_name: str) -> Response:
    """Answer CSV text as an attachment named file_name."""
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{file_name}"'})


def page_or_csv(args: Mapping[str, Any], rows: Callable[[], list[T]], *,
                extra: Callable[[list[T]], Mapping[str, Any]] | None = None,
                csv: tuple[str, Callable[[], str]] | None = None) -> Any:
    """Answer one page of rows plus extra(rows), or with `format=csv` the download csv=(file name, text)."""
    # Only the chosen format is read: the CSV holds every row, so it must not pay for the page too.
    if csv is not None and args["format"] == "csv":
        file_name, csv_text = csv
        return csv_download(read(csv_text), file_name)
    items = read(rows)
    return {**page_of(items, args["page"], args["per_page"]), **(extra(items) if extra else {})}


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


class _Parser(FlaskParser):
    """webargs parser answering in the API's error shape."""

    DEFAULT_VALIDATION_STATUS = 422
    # Unknown query parameters are refused like unknown body fields: a misspelt filter
    # (?proces_key=…) must not silently return the unfiltered list.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE,
                                   "querystring": RAISE}

    def _raw_load_json(self, req: Any) -> Any:
        """Parse the body as strict UTF-8 JSON; refuse other body types and anything json.loads tolerates."""
        raw = req.get_data(cache=True)
        if not is_json_request(req):
            if raw:
                fail(415, "unsupported_media_type",
                     f"send the body as application/json, not {req.mimetype or 'untyped'}")
            return missing
        if not raw:
            return missing
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            reason = "the body is not UTF-8"
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        except RecursionError:
            reason = "nested too deeply"
        except ValueError as exc:  # e.g. an integer of more than 4300 digits, NaN, Infinity
            reason = str(exc)[:200]
        fail(400, "invalid_json", f"the body is not valid JSON: {reason}", {"json": [reason]})

    def handle_error(self, error: Any, req: Any, schema: Any, *, error_status_code: int | None,
                     error_headers: Mapping[str, str] | None) -> NoReturn:
        messages = error.messages
        # One location (body or query) per view: report the fields themselves.
        if isinstance(messages, dict) and len(messages) == 1:
            only = next(iter(messages.values()))
            if isinstance(only, dict):
                messages = only
        fail(error_status_code or 422, "invalid_data", "the request has invalid fields",
             messages if isinstance(messages, dict) else {"_schema": messages})


class ApiBlueprint(Blueprint):
    """A flask-smorest blueprint that requires a signed-in user and parses with _Parser.

    `tag` is the area's name in the OpenAPI document; the Flask name gets an `api_v1_` prefix
    so it never clashes with the web pages' blueprints (tasks, registers…).
    """

    ARGUMENTS_PARSER = _Parser()

    def __init__(self, tag: str, import_name: str, **kwargs: Any) -> None:
        super().__init__(f"api_v1_{tag.replace('-', '_')}", import_name, **kwargs)
        self.tag = tag
        self.before_request(require_sign_in)

    def route(self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any) -> Any:
        """Register a view, tagged with this area's name."""
        return super().route(rule, parameters=parameters, tags=tags or [self.tag], **options)
