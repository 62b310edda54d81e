"""Instances: search them, read one on its diagram with its history, and administer it (admins)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from department.roles import ADMIN
from engine.errors import Conflict, Forbidden, NotFound
from engine.store import queries
from engine.store.unit_of_work import run_unit

from .auth import roles_required
from .case_list import case_row
from .case_view import INTERNAL_KEYS, CaseModel
from .display import display_names, local_time, person, pick
from .engine_ext import actor, get_engine, local_zone, now
from .extensions import db
from .files_ext import max_upload_bytes
from .notes_pages import attachment_thumbs, case_notes

bp = Blueprint("instances", __name__)
PER_PAGE = 25
REASON_MAX = 500
STATUS_LABELS = {"running": _l("Running"), "suspended": _l("Suspended"), "error": _l("Error"),
                 "completed": _l("Completed"), "terminated": _l("Terminated")}
OUTCOME_LABELS = {"closed": _l("Closed"), "completed": _l("Completed"), "rejected": _l("Rejected")}
KIND_LABELS = {
    "started": _l("Started"), "task_ready": _l("Task ready"), "task_claimed": _l("Claimed"),
    "task_released": _l("Released"), "task_reassigned": _l("Reassigned"), "task_completed": _l("Completed"),
    "task_cancelled": _l("Cancelled"), "gateway": _l("Decision"), "script": _l("Automatic step"),
    "event": _l("Event"), "timer_fired": _l("Timer fired"), "escalation": _l("Deadline missed"),
    "error": _l("Error"), "retried": _l("Retried"), "suspended": _l("Suspended"), "resumed": _l("Resumed"),
    "terminated": _l("Terminated"), "completed": _l("Finished"), "outcome": _l("Outcome"),
    "service": _l("Register entry"), "comment": _l("Comment"), "attachment": _l("Attachment"),
}
SORT_LABELS = {"started": _l("Newest first"), "-started": _l("Oldest first"), "updated": _l("Last changed"),
               "due": _l("Deadline soonest")}
ACTIONS = {"suspend": _l("Suspend"), "resume": _l("Resume"), "terminate": _l("Terminate"),
           "retry": _l("Retry")}


def status_label(status: str) -> str:
    """Return an instance status in the active language."""
    return str(STATUS_LABELS.get(status, status))


def local_day_start(day: date) -> datetime:
    """Return 00:00 of a local day (the calendar's zone) as an aware datetime."""
    return datetime.combine(day, time(0), local_zone())


def parse_day(raw: str | None) -> date | None:
    """Parse YYYY-MM-DD; raise ValueError for anything else."""
    raw = (raw or "").strip()
    return date.fromisoformat(raw) if raw else None


def process_names(session: Session) -> dict[str, tuple[str, str]]:
    """Return each deployed process's (Chinese, English) name from its newest version."""
    return queries.process_names(session)


def format_value(case: CaseModel, name: str, value: Any) -> str:
    """Render a value as people read it; lists and maps (mostly bookkeeping) as stored, in JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return case.format(name, value)


def _filters() -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Read the list filters from the query string: (search kwargs, raw values, errors by field)."""
    args = request.args
    raw = {k: (args.get(k) or "").strip() for k in
           ("process", "status", "version", "started_by", "from", "to", "unit", "q", "overdue", "sort",
            "mine")}
    kwargs: dict[str, Any] = {"process_key": raw["process"] or None, "started_by": raw["started_by"] or None,
                              "unit": raw["unit"] or None, "q": raw["q"][:100] or None,
                              "overdue": True if raw["overdue"] else None, "mine": raw["mine"] == "1",
                              "sort": raw["sort"] if raw["sort"] in SORT_LABELS else "started"}
    errors: dict[str, str] = {}
    if raw["status"] and raw["status"] not in STATUS_LABELS:
        errors["status"] = _("Unknown status.")
    kwargs["status"] = raw["status"] or None
    try:
        kwargs["version"] = int(raw["version"]) if raw["version"] else None
        if kwargs["version"] is not None and kwargs["version"] < 1:
            raise ValueError
    except ValueError:
        errors["version"] = _("Version must be a whole number from 1.")
    for key, target in (("from", "started_from"), ("to", "started_to")):
        try:
            day = parse_day(raw[key])
        except ValueError:
            errors[key] = _("Use a date like 2026-03-31.")
            continue
        # "to" is inclusive for people: up to the end of that day.
        kwargs[target] = local_day_start(day + timedelta(days=1 if key == "to" else 0)) if day else None
    if not errors and kwargs["started_from"] and kwargs["started_to"] \
            and kwargs["started_to"] <= kwargs["started_from"]:
        errors["to"] = _("The end date must not be before the start date.")
    return kwargs, raw, errors


@bp.get("/instances")
@roles_required()
def index() -> tuple[str, int] | str:
    """List instances with filters and pagination (observers see all, others what they started)."""
    kwargs, raw, errors = _filters()
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    names = process_names(db.session())
    context = {"raw": raw, "errors": errors, "names": names, "statuses": STATUS_LABELS, "sorts": SORT_LABELS,
               "observer": queries.may_observe(actor())}
    if errors:
        return render_template("instances/index.html", page=None, **context), 400
    session, moment = db.session(), now()
    page = queries.search_instances(session, actor(), moment, page=page_no, per_page=PER_PAGE, **kwargs)
    steps = queries.open_tasks_of(session, [i.id for i in page.items], moment)
    people = display_names(session, [*(i.started_by for i in page.items),
                                     *(t.assignee for ts in steps.values() for t in ts)])
    rows = [case_row(i, steps[i.id], people, moment) for i in page.items]
    return render_template("instances/index.html", page=page, rows=rows, **context)


def _instance_and_history(instance_id: int) -> tuple[queries.InstanceView, list[dict[str, Any]]]:
    """Return an instance the user may see and its history; 404/403 otherwise."""
    who, moment = actor(), now()
    try:
        return (queries.get_instance(db.session(), instance_id, who, moment),
                queries.instance_history(db.session(), instance_id, who, moment))
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)


def _load_detail(instance_id: int) -> dict[str, Any]:
    """Gather everything the detail page shows; 404/403 when missing or not visible."""
    inst, history = _instance_and_history(instance_id)
    version = queries.version_by_id(db.session(), inst.version_id)
    case = CaseModel(version.model if version else {})
    return {
        "inst": inst, "history": history, "case": case,
        "process_name": pick(version.name_zh, version.name_en) if version else inst.process_key,
        "data_rows": [(k, label, format_value(case, k, inst.data[k])
                       if isinstance(inst.data[k], dict | list) else shown)  # shown: with units
                      for k, label, shown in case.rows(inst.data)],
        "internal": {k: inst.data[k] for k in sorted(INTERNAL_KEYS) if k in inst.data},
        "is_admin": ADMIN in current_user.roles,
        "people": display_names(db.session(), [inst.started_by, *(h.get("actor") for h in history)]),
        "person": person,
        "notes": case_notes(instance_id), "notes_instance": instance_id, "notes_task": None,
        "notes_max_mb": max_upload_bytes() // 1048576, "thumbs": attachment_thumbs(instance_id),
    }


@bp.get("/instances/<int:instance_id>")
@roles_required()
def detail(instance_id: int) -> str:
    """Show one instance: diagram, error, open tasks, current data and history."""
    return render_template("instances/detail.html", **_load_detail(instance_id), form_errors={},
                           conflict=None)


_DONE_KINDS = frozenset({"task_completed", "gateway", "script", "event", "timer_fired"})
_REACHED_KINDS = _DONE_KINDS - {"task_completed"} | {"task_ready", "error"}


def transitions(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Return the (from, to) element pairs the case moved along, for highlighting sequence flows.

    An element is reached right after the step that completed before it in the history (the engine
    writes both in one unit of work), so a gateway's untaken branches stay unmarked.
    """
    pairs: dict[tuple[str, str], None] = {}
    last_done: str | None = None
    for row in history:
        element, kind = row.get("element_id"), row["kind"]
        if not element:
            continue
        if kind in _REACHED_KINDS and last_done and last_done != element:
            pairs[(last_done, element)] = None
        if kind in _DONE_KINDS:
            last_done = element
    return list(pairs)


@bp.get("/instances/<int:instance_id>/diagram.json")
@roles_required()
def diagram(instance_id: int) -> Response:
    """Return the instance's BPMN XML and per-element visit counts for the diagram viewer."""
    inst, history = _instance_and_history(instance_id)
    version = queries.version_by_id(db.session(), inst.version_id)
    if version is None:
        abort(404)
    visits = queries.element_visits(history)
    failed = (inst.error or {}).get("element_id") if inst.status == "error" else None
    if failed:
        visits.setdefault(failed, {"completed": 0, "active": 0, "failed": 0})
        visits[failed]["failed"] = max(1, visits[failed]["failed"])
    response = jsonify({"instance_id": inst.id, "process_key": inst.process_key, "version": inst.version,
                        "status": inst.status, "xml": version.bpmn_xml, "visits": visits,
                        "failed_element": failed, "transitions": transitions(history),
                        "labels": {"completed": _("completed"), "active": _("active"),
                                   "failed": _("failed")}})
    response.headers["Cache-Control"] = "no-store"
    return response


def _conflict_message(action: str, status: str) -> str:
    """Explain in the user's language why an action no longer fits the instance."""
    return _("%(action)s is not possible: the instance is %(status)s now. The page shows its current state.",
             action=ACTIONS[action], status=status_label(status))


@bp.post("/instances/<int:instance_id>/<any(suspend, resume, terminate, retry):action>")
@roles_required(ADMIN)
def administer(instance_id: int, action: str) -> Response | tuple[str, int]:
    """Suspend, resume, terminate (each with a recorded reason) or retry an instance."""
    reason = (request.form.get("reason") or "").strip()
    errors: dict[str, str] = {}
    if action != "retry" and not reason:
        errors["reason"] = _("Give a reason: it is recorded in the history.")
    elif len(reason) > REASON_MAX:
        errors["reason"] = _("The reason may be at most %(n)d characters.", n=REASON_MAX)
    if errors:
        return render_template("instances/detail.html", **_load_detail(instance_id), form_errors=errors,
                               conflict=None, action=action, reason=reason), 422
    engine, session, who = get_engine(), db.session(), actor()

    def act() -> Any:
        if action == "retry":
            return engine.retry(session, instance_id, who)
        return getattr(engine, action)(session, instance_id, who, reason)

    try:
        unit = run_unit(session, act)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except Conflict:
        details = _load_detail(instance_id)
        message = _conflict_message(action, details["inst"].status)
        return render_template("instances/detail.html", **details, form_errors={}, conflict=message), 409
    if unit.failure is not None:
        # The instance went back to error with the failure recorded.
        flash(_("Retried, but the step failed again: %(message)s", message=unit.failure.message), "error")
        return redirect(url_for(".detail", instance_id=instance_id))
    done = {"suspend": _("The instance is suspended."), "resume": _("The instance is running again."),
            "terminate": _("The instance is terminated."), "retry": _("The failed step ran again.")}
    flash(done[action], "success")
    return redirect(url_for(".detail", instance_id=instance_id))


@bp.app_template_filter("local_dt")
def local_dt(value: datetime | str | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """Format a moment in the tower's timezone (— when empty)."""
    return local_time(value, fmt)


def template_helpers() -> dict[str, Any]:
    """Return the helpers the admin-area templates use (registered per blueprint)."""
    return {"pick": pick, "status_label": status_label, "kind_labels": KIND_LABELS,
            "outcome_labels": OUTCOME_LABELS, "format_value": format_value}


bp.context_processor(template_helpers)
