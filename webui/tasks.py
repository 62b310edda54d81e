"""One task: its form, the case so far, its place on the diagram, its history; claim, release, complete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import domain
from engine.errors import EngineError, Forbidden, InvalidData, NotFound
from engine.handoff import may_hand_on
from engine.store import eligibility, queries
from engine.store.queries import TaskView
from engine.store.unit_of_work import run_unit

from .auth import roles_required, safe_next
from .blocked import reason
from .case_view import CaseModel, value_sources
from .display import case_number, display_names, local_time, person, pick
from .engine_ext import actor, get_engine, now
from .extensions import db
from .files_ext import max_upload_bytes
from .forms_render import FormBuilder, field_errors, general_errors, read_answers, submitted_values
from .i18n import localized_role
from .inbox import due_info, may_claim, may_release
from .notes_pages import attachment_thumbs, case_notes
from .records import has_record

bp = Blueprint("tasks", __name__)

Page = str | tuple[str, int]
# Automatic routing steps: the diagram shows them; the timeline keeps to what people and timers did.
QUIET_KINDS = frozenset({"gateway", "event", "outcome"})


def problem(status: int, title: str, message: str, task: TaskView | None = None,
            typed: list[tuple[str, str]] | None = None) -> tuple[str, int]:
    """Render a friendly explanation of why an action on a task did not happen (with what was typed)."""
    return render_template("tasks/problem.html", title=title, message=message, task=task,
                           code=status, typed=typed or []), status


def _typed(task: TaskView) -> list[tuple[str, str]]:
    """Return (label, text) of what the user typed into a refused form, so nothing is lost."""
    out = []
    for f in (task.form or {}).get("fields") or []:
        text = (request.form.get(f["name"]) or "").strip()
        if text:
            options = {o["value"]: pick(o.get("label_zh"), o.get("label_en")) for o in f.get("options") or []}
            out.append((pick(f.get("label_zh"), f.get("label_en")) or f["name"], options.get(text, text)))
    return out


def _version(instance_id: int) -> queries.VersionView:
    version = queries.instance_version(db.session(), instance_id)
    if version is None:
        abort(404)
    return version


def _visible_task(task_id: str) -> TaskView | tuple[str, int]:
    """Return the task if the user may see it, else the page saying why not."""
    try:
        return queries.get_task(db.session(), task_id, actor(), now())
    except NotFound:
        abort(404)
    except Forbidden:
        return problem(403, _("Not your task"), _(
            "This task belongs to a role you do not hold. Ask an administrator if you need access."))


def history_entries(rows: list[dict[str, Any]], model: CaseModel, names: Mapping[str, str],
                    thumbs: Mapping[int, str] | None = None) -> list[dict[str, Any]]:
    """Turn history rows into sentences in the active language, newest last."""
    entries = []
    for row in rows:
        kind = row["kind"]
        if kind in QUIET_KINDS:
            continue
        details = row.get("details") or {}
        who = person(names, row.get("actor")) if row.get("actor") else _("The system")
        step = model.element_title(row.get("element_id"))
        entered: list[tuple[str, str]] = []
        if kind == "started":
            text = _("%(who)s started the case.", who=who)
            entered = _entered(model, details.get("data") or {}, "start")
        elif kind == "task_ready":
            holder = person(names, details.get("assignee")) if details.get("assignee") \
                else localized_role(details.get("role") or "")
            text = _("“%(step)s” is waiting for %(holder)s.", step=step, holder=holder)
        elif kind == "task_completed":
            text = _("%(who)s completed “%(step)s”.", who=who, step=step)
            entered = _entered(model, details.get("data") or {}, row.get("element_id") or "")
        else:
            text = _event_sentence(kind, who, step, row, details, names)
        entries.append({"at": local_time(row["at"]), "kind": kind, "text": text, "entered": entered,
                        "alert": kind in ("escalation", "error"),
                        "thumb": (thumbs or {}).get(details.get("attachment_id") or 0)})
    return entries


def _entered(model: CaseModel, data: Mapping[str, Any], element: str) -> list[tuple[str, str]]:
    """Return (label, value) of what one step entered, labelled as that step's form does."""
    return [(label, value) for _name, label, value in model.rows(data, dict.fromkeys(data, element))]


def _event_sentence(kind: str, who: str, step: str, row: Mapping[str, Any], details: Mapping[str, Any],
                    names: Mapping[str, str]) -> str:
    """Describe the less common history events."""
    message = row.get("message") or ""
    texts: dict[str, Callable[[], str]] = {
        "task_claimed": lambda: _("%(who)s claimed “%(step)s”.", who=who, step=step),
        "task_released": lambda: _("%(who)s gave “%(step)s” back to the role.", who=who, step=step),
        "task_reassigned": lambda: _("%(who)s gave “%(step)s” to %(to)s.", who=who, step=step,
                                     to=person(names, details.get("to"))),
        "task_cancelled": lambda: _("“%(step)s” was no longer needed and was withdrawn.", step=step),
        "escalation": lambda: _("Deadline missed: %(step)s.", step=step),
        "timer_fired": lambda: _("Timer: %(step)s.", step=step),
        "script": lambda: _("Automatic step: %(step)s.", step=step),
        "service": lambda: _("Register entry written: %(step)s.", step=step or message),
        "error": lambda: _("Error at “%(step)s”: %(message)s", step=step, message=message),
        "retried": lambda: _("%(who)s ran the failed step again.", who=who),
        "suspended": lambda: _("%(who)s suspended the case: %(reason)s", who=who, reason=message),
        "resumed": lambda: _("%(who)s resumed the case.", who=who),
        "terminated": lambda: _("%(who)s ended the case: %(reason)s", who=who, reason=message),
        "completed": lambda: _("The case is finished."),
        "comment": lambda: _("%(who)s commented: %(text)s", who=who, text=message),
        "attachment": lambda: _("%(who)s attached %(name)s.", who=who, name=message),
    }
    return texts[kind]() if kind in texts else f"{kind}: {message}"


def _context(task: TaskView, submitted: Mapping[str, str] | None = None,
             errors: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    """Gather everything the task page shows."""
    who, moment, session = actor(), now(), db.session()
    model = CaseModel(_version(task.instance_id).model)
    try:
        instance = queries.get_instance(session, task.instance_id, who, moment)
        history = queries.instance_history(session, task.instance_id, who, moment)
    except Forbidden:
        instance, history = None, []
    data = instance.data if instance is not None else {}
    names = display_names(session, [task.assignee, task.completed_by, *(r.get("actor") for r in history),
                                    *((r.get("details") or {}).get("assignee") for r in history),
                                    *model.usernames(data)])
    model.names = names
    block = eligibility.blocks(session, [task], who)[task.id]
    workable = block is None
    fields = FormBuilder(session, task.form, data, model).views(submitted, errors) if workable else []
    hand_on = task.status == "open" and may_hand_on(task.role, task.assignee, who) and (
        block is None or block.code in ("not_starter", "not_performer_of", "assigned", "role"))
    # Who may do it instead: offered to whoever may hand it on, named to whoever may not.
    offer = task.status == "open" and (hand_on or (block is not None and block.code.startswith("not_")))
    able = [u for u in eligibility.eligible_people(session, task)
            if u not in (task.assignee, who.username)] if offer else []
    people = display_names(session, able)
    running = block is None or not block.code.startswith(("case_", "closed"))
    return {
        "task": task, "title": pick(task.title_zh, task.title_en), "model": model,
        "process_name": model.name, "case_no": case_number(task.instance_id), "instance": instance,
        "data_rows": model.rows(data, value_sources(history)),
        "history": history_entries(history, model, names, attachment_thumbs(task.instance_id)
                                   if instance is not None else {}),
        "notes": case_notes(task.instance_id) if instance is not None else [],
        "notes_instance": task.instance_id, "notes_task": task.id,
        "notes_max_mb": max_upload_bytes() // 1048576,
        "fields": fields, "general_errors": general_errors(errors or {}, fields),
        "workable": workable, "can_claim": may_claim(task, who) and workable,
        "can_release": may_release(task, who) and running,
        "block": block, "blocked_reason": reason(block, names, model.element_title) if block else None,
        "hand_on": hand_on and running, "able": [(u, person(people, u)) for u in able],
        "due": due_info(task.due_at, task.overdue, moment) if task.status == "open" and running else None,
        "role": localized_role(task.role),
        "assignee": person(names, task.assignee) if task.assignee else None,
        "completed_by": person(names, task.completed_by), "completed_at": local_time(task.completed_at),
        "mine": task.assignee == who.username, "record": has_record(task.process_key),
    }


@bp.get("/tasks/<task_id>")
@roles_required()
def page(task_id: str) -> Page:
    """Show a task with its form (when the user may do it), the case so far and its history."""
    task = _visible_task(task_id)
    if isinstance(task, tuple):
        return task
    return render_template("tasks/page.html", **_context(task))


@bp.post("/tasks/<task_id>")
@roles_required()
def complete(task_id: str) -> Page | Response:
    """Complete the task with the submitted form; errors come back next to their fields."""
    task = _visible_task(task_id)
    if isinstance(task, tuple):
        return task
    session = db.session()
    answers = read_answers(task.form, request.form)
    try:
        unit = run_unit(session, lambda: get_engine().complete(session, task_id, answers, actor()))
    except InvalidData as refused:
        context = _context(task, submitted_values(task.form, request.form), field_errors(refused))
        return render_template("tasks/page.html", **context), 422
    except EngineError as error:
        return _refusal(error, task, typed=_typed(task))
    if unit.failure is not None:
        # The completion stands; the instance is marked failed for an admin to retry.
        flash(_("Your entry was saved, but the next automatic step failed (%(message)s). "
                "An administrator can retry it from the case page.", message=unit.failure.message), "error")
        return redirect(url_for("inbox.index"))
    flash(_("“%(task)s” is done. Thank you.", task=pick(task.title_zh, task.title_en)), "success")
    return redirect(url_for("inbox.index"))


def _refusal(error: EngineError, before: TaskView, action: str = "complete",
             typed: list[tuple[str, str]] | None = None) -> tuple[str, int]:
    """Explain a refused claim, release or completion in the user's words."""
    if isinstance(error, NotFound):
        abort(404)
    who = actor()
    try:
        task = queries.get_task(db.session(), before.id, who, now())
    except EngineError:
        task = before
    names = display_names(db.session(), [task.assignee, task.completed_by])
    if isinstance(error, Forbidden):
        if task.assignee and task.assignee != who.username:
            text = _("This task is assigned to %(name)s; only they can do it.",
                     name=person(names, task.assignee))
        elif task.role not in domain.current().effective_roles(who.roles):
            text = _("This task is for the role %(role)s, which you do not hold.",
                     role=localized_role(task.role))
        elif action == "release":
            text = _("Only the person who claimed this task can give it back.")
        else:
            text = _("The rules need a different person for this step (for example, whoever made a "
                     "request may not approve it).")
        return problem(403, _("Not allowed"), text, task, typed)
    return problem(409, _("The task has changed"), _conflict_text(task, error), task, typed)


def _conflict_text(task: TaskView, error: EngineError) -> str:
    """Say what changed meanwhile: done by someone, withdrawn, claimed, or the case paused."""
    who = actor()
    names = display_names(db.session(), [task.assignee, task.completed_by])
    if task.status == "completed":
        if task.completed_by == who.username:
            return _("You have already completed this task.")
        return _("This task has already been completed by someone else (%(name)s, %(time)s).",
                 name=person(names, task.completed_by), time=local_time(task.completed_at))
    if task.status == "cancelled":
        return _("This task is no longer needed: the case has moved on or was ended.")
    status = queries.instance_status(db.session(), task.instance_id) or ""
    if status == "suspended":
        return _("The case is suspended. This task can be done once an administrator resumes it.")
    if status == "error":
        return _("The case stopped at an error. An administrator must retry it before work can go on.")
    if status in ("completed", "terminated"):
        return _("The case has ended.")
    if task.assignee and task.assignee != who.username:
        return _("%(name)s has already claimed this task.", name=person(names, task.assignee))
    if task.assigned_by_process:
        return _("The process gave this task to a named person, so it cannot be given back. "
                 "An administrator can reassign it.")
    return _("This task changed meanwhile. Reload the page and check.")


def _inbox_action(task_id: str, action: str) -> Page | Response:
    """Claim or release, then go back where the button was."""
    task = _visible_task(task_id)
    if isinstance(task, tuple):
        return task
    try:
        run_unit(db.session(), lambda: getattr(get_engine(), action)(db.session(), task_id, actor()))
    except EngineError as error:
        return _refusal(error, task, action)
    title = pick(task.title_zh, task.title_en)
    if action == "claim":
        flash(_("You have claimed “%(task)s”. It is now in your tasks.", task=title), "success")
    else:
        flash(_("“%(task)s” is back with the role %(role)s.", task=title, role=localized_role(task.role)),
              "info")
    return redirect(safe_next(request.form.get("next")))


@bp.post("/tasks/<task_id>/claim")
@roles_required()
def claim(task_id: str) -> Page | Response:
    """Take an open task of one's role."""
    return _inbox_action(task_id, "claim")


@bp.post("/tasks/<task_id>/release")
@roles_required()
def release(task_id: str) -> Page | Response:
    """Give a claimed task back to its role."""
    return _inbox_action(task_id, "release")


@bp.post("/tasks/<task_id>/reassign")
@roles_required()
def reassign(task_id: str) -> Page | Response:
    """Hand the task to a colleague who may do it (delegate, pass on, re-dispatch)."""
    task = _visible_task(task_id)
    if isinstance(task, tuple):
        return task
    assignee = (request.form.get("assignee") or "").strip()
    session = db.session()
    try:
        run_unit(session, lambda: get_engine().reassign(session, task_id, assignee, actor()))
    except InvalidData:
        return problem(422, _("Not handed on"), _(
            "%(name)s may not do this task (the role is missing or the rules need someone else). "
            "Choose another colleague.", name=person(display_names(session, [assignee]), assignee)), task)
    except EngineError as error:
        return _refusal(error, task, "release")
    flash(_("“%(task)s” is now with %(name)s.", task=pick(task.title_zh, task.title_en),
            name=person(display_names(session, [assignee]), assignee)), "success")
    return redirect(safe_next(request.form.get("next")))


@bp.get("/tasks/<task_id>/diagram.json")
@roles_required()
def diagram(task_id: str) -> Response:
    """Return the task's process diagram, what has been done and the task's element, for the viewer."""
    who, moment = actor(), now()
    try:
        task = queries.get_task(db.session(), task_id, who, moment)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    version = _version(task.instance_id)
    try:
        visits = queries.element_visits(queries.instance_history(db.session(), task.instance_id, who, moment))
    except Forbidden:
        visits = {}
    response = jsonify({"xml": version.bpmn_xml, "visits": visits,
                        "current": [task.name] if task.status == "open" else [],
                        "labels": {"current": _("This task"), "completed": _("Done"), "active": _("Waiting"),
                                   "failed": _("Failed")}})
    response.headers["Cache-Control"] = "no-store"
    return response
