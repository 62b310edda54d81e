"""Start a case: the processes the user may start, each with its start form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import domain
from engine.actor import Actor
from engine.errors import Forbidden, InvalidData, NotFound
from engine.store import queries
from engine.store.unit_of_work import run_unit

from .auth import roles_required
from .case_view import CaseModel
from .display import case_number, display_names, person, pick
from .engine_ext import actor, get_engine, now
from .extensions import db
from .forms_render import FormBuilder, field_errors, general_errors, read_answers, submitted_values
from .i18n import localized_role
from .records import has_record

bp = Blueprint("start", __name__)


@dataclass(frozen=True)
class Startable:
    """A process the user may start, as the start page lists it."""

    key: str
    name: str
    starters: list[str]
    asks_for: list[str]


def may_start(model: dict[str, Any], who: Actor) -> bool:
    """Tell whether the actor may start a process (no starters listed = any member of staff)."""
    starters = set(model.get("starters") or [])
    return not starters or bool(starters & domain.current().effective_roles(who.roles))


def startable(who: Actor) -> list[Startable]:
    """Return the newest version of every process the actor may start."""
    out = []
    for entry in queries.process_list(db.session()):
        model = queries.latest_version(db.session(), entry["key"]).model
        if may_start(model, who):
            fields = (model.get("start_form") or {}).get("fields", [])
            out.append(Startable(entry["key"], pick(entry["name_zh"], entry["name_en"]),
                                 [localized_role(r) for r in model.get("starters") or []],
                                 [pick(f.get("label_zh"), f.get("label_en")) for f in fields]))
    return sorted(out, key=lambda s: s.name)


def _version_to_start(key: str) -> queries.VersionView:
    """Return the newest version of a process the user may start; 404 or 403 otherwise."""
    try:
        version = queries.latest_version(db.session(), key)
    except NotFound:
        abort(404)
    if not may_start(version.model, actor()):
        abort(403)
    return version


@bp.get("/start")
@roles_required()
def index() -> str:
    """List the processes this user may start."""
    return render_template("start/index.html", processes=startable(actor()))


def _form_page(version: queries.VersionView, submitted: dict[str, str] | None = None,
               errors: dict[str, list[str]] | None = None) -> str:
    model = CaseModel(version.model)
    form = version.model.get("start_form")
    fields = FormBuilder(db.session(), form, {}, model).views(submitted, errors)
    return render_template("start/form.html", key=version.process_key, name=model.name, fields=fields,
                           general_errors=general_errors(errors or {}, fields))


@bp.get("/start/<key>")
@roles_required()
def form(key: str) -> str:
    """Show a process's start form."""
    return _form_page(_version_to_start(key))


@bp.post("/start/<key>")
@roles_required()
def submit(key: str) -> Response | tuple[str, int]:
    """Start the case; go to its first task when it is the user's, else confirm the case number."""
    version = _version_to_start(key)
    form_def = version.model.get("start_form")
    session, who = db.session(), actor()
    try:
        unit = run_unit(session, lambda: get_engine().start(
            session, key, read_answers(form_def, request.form), who))
    except InvalidData as refused:
        return _form_page(version, submitted_values(form_def, request.form), field_errors(refused)), 422
    except Forbidden:
        abort(403)
    failure = unit.failure
    if failure is not None:
        # The case exists and is marked failed: an administrator can retry it.
        flash(_("The case was registered, but an automatic step failed (%(message)s). "
                "An administrator can retry it.", message=failure.message), "error")
        if failure.instance_id is None:
            return redirect(url_for(".index"))
        return redirect(url_for(".started", instance_id=failure.instance_id))
    instance = unit.unwrap()
    number = case_number(instance.id)
    view = queries.get_instance(session, instance.id, who, now())
    roles = domain.current().effective_roles(who.roles)
    for task in view.open_tasks:
        if task.assignee == who.username or (task.assignee is None and task.role in roles):
            flash(_("Case No. %(no)s is registered. The next step is yours.", no=number), "success")
            return redirect(url_for("tasks.page", task_id=task.id))
    flash(_("Case No. %(no)s is registered.", no=number), "success")
    return redirect(url_for(".started", instance_id=instance.id))


@bp.get("/start/started/<int:instance_id>")
@roles_required()
def started(instance_id: int) -> str:
    """Confirm a new case: its number and who has its next steps."""
    try:
        view = queries.get_instance(db.session(), instance_id, actor(), now())
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    version = queries.version_by_id(db.session(), view.version_id)
    model = CaseModel(version.model if version else {})
    names = display_names(db.session(), [t.assignee for t in view.open_tasks])
    steps = [(pick(t.title_zh, t.title_en),
              person(names, t.assignee) if t.assignee else localized_role(t.role)) for t in view.open_tasks]
    rejected = view.outcome == "rejected"
    # Where it ended says why (e.g. "驳回:应联系客户"): the last element the history names.
    ends = [r["element_id"] for r in queries.instance_history(db.session(), instance_id, actor(), now())
            if r.get("element_id")] if rejected else []
    return render_template("start/started.html", view=view, name=model.name, case_no=case_number(view.id),
                           steps=steps, record=has_record(view.process_key), rejected=rejected,
                           rejected_at=model.element_title(ends[-1]) if ends else "")
