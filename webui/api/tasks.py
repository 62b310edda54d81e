"""Tasks: the inbox as a list, claim, release, complete, and reassign (admins)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from engine.actor import Actor
from engine.store import eligibility, queries

from ..engine_ext import actor, get_engine, now
from ..extensions import db
from .common import ApiBlueprint, read, request_locale, run_command
from .instances import instance_answer
from .responses import InstanceDetailOut, TaskOut, TaskPageOut
from .schemas import CompleteIn, EmptyIn, ReassignIn, TaskListArgs
from .views import task_dict

blp = ApiBlueprint("tasks", __name__, url_prefix="/api/v1/tasks",
                   description="User tasks. Each carries its form: the fields to send when completing it, "
                               "described in the language of Accept-Language (zh or en; default zh).")

ID_RULE = "/<uuid:task_id>"


def _task(task_id: str, who: Actor) -> dict[str, Any]:
    """Read one task as the actor sees it."""
    view = read(lambda: queries.get_task(db.session(), task_id, who, now()))
    return task_dict(view, request_locale(), eligibility.blocks(db.session(), [view], who)[view.id])


@blp.route("")
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, TaskPageOut)
def list_tasks(args: dict[str, Any]) -> dict[str, Any]:
    """List tasks: open ones by deadline, finished ones newest first.

    scope=mine: assigned to (or, with status=completed, completed by) you; group: your roles'
    tasks nobody has claimed; all: every task (admins and managers; 403 for others).
    """
    who = actor()
    page = read(lambda: queries.list_tasks(
        db.session(), who, now(), scope=args["scope"], status=args["status"],
        instance_id=args.get("instance_id"), page=args["page"], per_page=args["per_page"]))
    locale = request_locale()
    blocks = eligibility.blocks(db.session(), page.items, who)
    return {"items": [task_dict(t, locale, blocks[t.id]) for t in page.items], "total": page.total,
            "page": page.page, "per_page": page.per_page}


@blp.route(ID_RULE)
@blp.response(200, TaskOut)
def get_task(task_id: UUID) -> dict[str, Any]:
    """Return one task with its form (403 unless it is your role's, yours, or you are a manager)."""
    return _task(str(task_id), actor())


@blp.route(ID_RULE + "/claim", methods=["POST"])
@blp.arguments(EmptyIn, required=False)
@blp.response(200, TaskOut)
def claim(_body: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Take an open task of your role into your own inbox (409 when someone else has it)."""
    engine, who = get_engine(), actor()
    run_command(lambda: engine.claim(db.session(), str(task_id), who))
    return _task(str(task_id), who)


@blp.route(ID_RULE + "/release", methods=["POST"])
@blp.arguments(EmptyIn, required=False)
@blp.response(200, TaskOut)
def release(_body: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Give a claimed task back to its role's group inbox (409 when the process assigned it to you)."""
    engine, who = get_engine(), actor()
    run_command(lambda: engine.release(db.session(), str(task_id), who))
    return _task(str(task_id), who)


@blp.route(ID_RULE + "/complete", methods=["POST"])
@blp.arguments(CompleteIn, required=False)
@blp.response(200, InstanceDetailOut, description="completed; the instance with its next open tasks")
def complete(body: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Complete a task with its form's data and answer with the instance and its next open tasks.

    422: refused fields with reasons (in the Accept-Language language); 403: not your role, assigned
    to someone else, or a separation-of-duty rule; 409: already completed, or the instance is not
    running or changed meanwhile. If a following automatic step fails, the completion is kept and
    the instance is answered in status `error` with `error.message`.
    """
    engine, who = get_engine(), actor()
    result, failure = run_command(lambda: engine.complete(db.session(), str(task_id), body["data"], who))
    return instance_answer(result, failure)


@blp.route(ID_RULE + "/reassign", methods=["POST"])
@blp.arguments(ReassignIn)
@blp.response(200, TaskOut)
def reassign(body: dict[str, Any], task_id: UUID) -> dict[str, Any]:
    """Hand an open task to another active user who may do it.

    Allowed to admins, to whoever holds the task (delegate), to a member of its role while nobody
    has claimed it (a step the caller may not do goes to a colleague who may), and to a dispatcher
    of its role (re-dispatch). 422 when the assignee lacks the role or a separation rule forbids them.
    """
    engine, who = get_engine(), actor()
    run_command(lambda: engine.reassign(db.session(), str(task_id), body["assignee"], who))
    return _task(str(task_id), who)
