"""Process definitions: list, deploy a BPMN file, versions, the XML of a version (with ETag)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from werkzeug.wrappers import Response

from department.roles import ADMIN, PROCESS_OWNER
from engine import definitions
from engine.actor import Actor
from engine.convert import camunda
from engine.messages import msg
from engine.store import queries

from ..engine_ext import actor, get_engine, if_match
from ..extensions import db
from ..problem_text import problem_text
from .common import ApiBlueprint, ApiError, fail, page_of, read, request_locale, require_roles, run_command
from .responses import DeployOut, ErrorOut, ProcessDetailOut, ProcessPageOut
from .schemas import KEY_RE, DeployArgs, PageArgs, XmlArgs
from .views import form_dict

F = TypeVar("F", bound=Callable[..., Any])

blp = ApiBlueprint("process-definitions", __name__, url_prefix="/api/v1/process-definitions",
                   description="Deployed BPMN processes and their versions.")

XML_TYPES = ("application/xml", "text/xml")
KEY_RULE = "/<string(minlength=1, maxlength=64):key>"

_UPLOAD_BODY = {
    "required": True,
    "description": "The BPMN 2.0 file: the raw XML as the body (scripts), or a multipart form with a "
                   "`file` field (browsers; needs the session's CSRF token).",
    "content": {
        "application/xml": {"schema": {"type": "string"}},
        "text/xml": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}}}},
    },
}


def _process(entry: dict[str, Any], locale: str) -> dict[str, Any]:
    """Add the caller-language name and the newest version number to a process_list entry."""
    return {**entry, "name": entry[f"name_{locale}"], "latest_version": entry["versions"][0]["version"]}


def _checked_key(key: str) -> str:
    if not KEY_RE.fullmatch(key):
        fail(404, "not_found", f"process '{key[:64]}' is not deployed")
    return key


@blp.route("")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProcessPageOut)
def list_processes(args: dict[str, Any]) -> dict[str, Any]:
    """List deployed processes with their versions, newest version first."""
    locale = request_locale()
    processes = [_process(p, locale) for p in queries.process_list(db.session())]
    return page_of(processes, args["page"], args["per_page"])


_IF_MATCH = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
             "description": "the ETag of the version you edited (or `*`): the deploy is refused with 412 "
                            "when another version is the newest"}
_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "the version's ETag (the file's SHA-256)"}}


def _deploy_doc(view: F) -> F:
    """Apply what POST and PUT deploys share: query arguments, the upload body and every answer."""
    for decorate in reversed((
        blp.arguments(DeployArgs, location="query"),
        blp.doc(requestBody=_UPLOAD_BODY, parameters=[_IF_MATCH]),
        blp.response(201, DeployOut, description="a new version was stored", headers=_ETAG),
        blp.alt_response(200, schema=DeployOut, description="identical to a deployed version: nothing stored",
                         success=True, headers=_ETAG),
        blp.alt_response(409, schema=ErrorOut,
                         description="another deploy of the key won the race meanwhile"),
        blp.alt_response(412, schema=ErrorOut, description="If-Match does not name the newest version"),
        blp.alt_response(415, schema=ErrorOut, description="the body is neither XML nor a multipart upload"),
    )):
        view = decorate(view)
    return view


@blp.route("", methods=["POST"])
@_deploy_doc
def deploy(args: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Check a BPMN file like `bpm deploy` and store it as a new version when valid and changed.

    With `dialect=camunda` the file is a Camunda 7 one: it is converted first and the answer (or the
    422's `fields`, under `conversion`) carries the conversion report.

    Process owners and admins only. An invalid file gets 422 with every problem; `fields` maps
    each BPMN element id (or `bpmn` for the whole file) to its reasons, in the Accept-Language language.
    With If-Match (the ETag of the version you edited), a newer version refuses the deploy.
    """
    return _deploy(args, None)


@blp.route(KEY_RULE, methods=["PUT"])
@_deploy_doc
def deploy_version(args: dict[str, Any], key: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Deploy a BPMN file as the next version of `key`, like POST; the file's process id must be `key`.

    Send If-Match with the ETag of the version you edited (from `GET …/{key}/xml`) so a version
    someone else deployed meanwhile is never overwritten: 412 when it is stale already, 409 when
    another deploy wins while this one waits.
    """
    return _deploy(args, _checked_key(key))


def _deploy(args: dict[str, Any], key: str | None) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Deploy the uploaded file as one unit of work (of `key` when given); answer with its ETag."""
    who = actor()
    require_roles(who, (PROCESS_OWNER, ADMIN), "deploying a process")
    xml, filename = _uploaded_file(args.get("filename") or "")
    try:
        xml.decode("utf-8")
    except UnicodeDecodeError:
        reason = problem_text(msg("the file must be UTF-8 encoded"), request_locale())
        fail(422, "invalid_bpmn", "the file is not UTF-8 text", {"bpmn": [reason]})
    report: list[dict[str, Any]] | None = None
    if args.get("dialect") == "camunda":
        conversion = read(lambda: camunda.convert(xml))
        xml, report = conversion.xml, [_report_line(line) for line in conversion.report]
    try:
        return _deploy_checked(xml, filename, key, who, report)
    except ApiError as exc:
        if report is not None:
            exc.data["messages"]["conversion"] = report
        raise


def _report_line(line: camunda.ReportLine) -> dict[str, Any]:
    """Return a conversion report line with its message in the caller's language."""
    return {**line.to_dict(), "message": problem_text(line.message, request_locale())}


def _deploy_checked(xml: bytes, filename: str, key: str | None, who: Actor,
                    report: list[dict[str, Any]] | None) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Deploy a UTF-8 file (of `key` when given) as one unit of work; answer with its ETag."""
    if key is not None:
        compiled = read(lambda: definitions.compile_process(xml, filename))
        if compiled.key != key:
            fail(422, "invalid_bpmn", f"the file's process id is '{compiled.key}', not '{key}'",
                 {compiled.key: [f"the process id must be '{key}', the key in the URL"]})
    engine, expected = get_engine(), if_match()
    result, _failure = run_command(lambda: engine.deploy(db.session(), xml, filename=filename, actor=who,
                                                         if_match=expected))
    assert result is not None  # deploying never runs a process, so it cannot fail as one
    body = {"process_key": result.process_key, "version": result.version, "version_id": result.version_id,
            "created": result.created}
    if report is not None:
        body["conversion"] = report
    return body, 201 if result.created else 200, {"ETag": f'"{result.content_hash}"'}


def _uploaded_file(filename: str) -> tuple[bytes, str]:
    """Return the uploaded XML and its file name, from a raw body or a multipart `file` field."""
    if request.mimetype in XML_TYPES:
        return request.get_data(cache=False), filename
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            fail(422, "invalid_data", "the form has no file", {"file": ["attach the BPMN file as 'file'"]})
        name = posixpath.basename((upload.filename or "").replace("\\", "/")).replace("\x00", "")[:255]
        return upload.read(), name or filename
    fail(415, "unsupported_media_type",
         f"send the BPMN file as application/xml or multipart/form-data, not {request.mimetype or 'untyped'}")


@blp.route(KEY_RULE)
@blp.response(200, ProcessDetailOut)
def get_process(key: str) -> dict[str, Any]:
    """Return one process: its versions, starter roles and the start form of the newest version."""
    key = _checked_key(key)
    locale = request_locale()
    entry = next((p for p in queries.process_list(db.session()) if p["key"] == key), None)
    if entry is None:
        fail(404, "not_found", f"process '{key}' is not deployed")
    latest = read(lambda: queries.latest_version(db.session(), key))
    model = latest.model or {}
    return {**_process(entry, locale), "starters": list(model.get("starters") or []),
            "start_form": form_dict(model.get("start_form"), locale)}


@blp.route(KEY_RULE + "/xml")
@blp.arguments(XmlArgs, location="query")
@blp.response(200, {"type": "string"}, content_type="application/xml",
              description="the BPMN XML; the ETag is the file's SHA-256",
              headers={"ETag": {"schema": {"type": "string"}}})
@blp.alt_response(304, description="unchanged since the ETag sent in If-None-Match")
@blp.doc(parameters=[{"in": "header", "name": "If-None-Match", "required": False,
                      "schema": {"type": "string"}}])
def get_xml(args: dict[str, Any], key: str) -> Response:
    """Return the BPMN XML of the newest version (or of `version`); If-None-Match gives 304."""
    key = _checked_key(key)
    if "version" in args:
        row = queries.version_by_number(db.session(), key, args["version"])
        if row is None:
            fail(404, "not_found", f"process '{key}' has no version {args['version']}")
    else:
        row = read(lambda: queries.latest_version(db.session(), key))
    response = Response(row.bpmn_xml, mimetype="application/xml")
    response.set_etag(row.content_hash)
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)
