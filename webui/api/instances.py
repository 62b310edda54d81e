"""Process instances: start, list, detail, history, and the admin moves (suspend/resume/terminate/retry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from engine.errors import ProcessFailure
from engine.store import eligibility, queries

from ..engine_ext import actor, get_engine, now
from ..extensions import db
from .common import ApiBlueprint, fail, page_of, read, request_locale, run_command
from .responses import HistoryPageOut, InstanceDetailOut, InstancePageOut
from .schemas import MAX_ID, HistoryArgs, InstanceListArgs, ReasonIn, StartIn
from .views import instance_dict

blp = ApiBlueprint("process-instances", __name__, url_prefix="/api/v1/process-instances",
                   description="Running and finished cases. A step that fails while running (a script, "
                               "an expression, an assignment) does not fail the request: the instance "
                               "is answered with status `error` and `error.message`.")

ID_RULE = f"/<int(min=1, max={MAX_ID}):instance_id>"


class Identified(Protocol):
    """What a command hands back that the answer needs: the instance's id (it is read again as a view)."""

    id: int


def _detail(instance_id: int, *, acted: bool = False) -> dict[str, Any]:
    """Read one instance as the signed-in user sees it (`acted`: their command on it just succeeded)."""
    who = actor()
    view = read(lambda: queries.get_instance(db.session(), instance_id, who, now(), acted=acted))
    return instance_dict(view, request_locale(), detail=True,
                         blocks=eligibility.blocks(db.session(), view.open_tasks, who))


def instance_answer(result: Identified | None, failure: ProcessFailure | None) -> dict[str, Any]:
    """Answer with the instance a command acted on, also when a step failed (status error)."""
    instance_id = result.id if result is not None else failure.instance_id if failure else None
    if instance_id is None:
        assert failure is not None
        fail(422, failure.code, failure.message)
    return _detail(instance_id, acted=True)


@blp.route("", methods=["POST"])
@blp.arguments(StartIn)
@blp.response(201, InstanceDetailOut, description="started (status running, completed, or error)")
def start(body: dict[str, Any]) -> dict[str, Any]:
    """Start an instance of the newest version of a process with its start form's data.

    422 names each refused field; 403 when the caller's roles may not start this process.
    If a step fails while running, the start is kept and the instance is answered in status
    `error` with `error.message` and the element id; an admin can fix the cause and retry.
    """
    engine, who = get_engine(), actor()
    result, failure = run_command(lambda: engine.start(db.session(), body["process_key"], body["data"], who))
    return instance_answer(result, failure)


@blp.route("")
@blp.arguments(InstanceListArgs, location="query")
@blp.response(200, InstancePageOut)
def list_instances(args: dict[str, Any]) -> dict[str, Any]:
    """List instances, newest first: admins and managers see all, others the ones they started or work on.

    `q` finds a case by number, unit, phone or name (a customer calling about their repair).
    """
    page = queries.search_instances(db.session(), actor(), now(), process_key=args.get("process_key"),
                                    status=args.get("status"), q=args.get("q"), sort=args["sort"],
                                    mine=args["mine"], page=args["page"], per_page=args["per_page"])
    locale = request_locale()
    return {"items": [instance_dict(v, locale) for v in page.items], "total": page.total,
            "page": page.page, "per_page": page.per_page}


@blp.route(ID_RULE)
@blp.response(200, InstanceDetailOut)
def get_instance(instance_id: int) -> dict[str, Any]:
    """Return an instance with its data and open tasks (403 when it is not visible to you)."""
    return _detail(instance_id)


@blp.route(ID_RULE + "/history")
@blp.arguments(HistoryArgs, location="query")
@blp.response(200, HistoryPageOut)
def history(args: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Return the instance's history, oldest first: who did what, when, with the data before/after."""
    rows = read(lambda: queries.instance_history(db.session(), instance_id, actor(), now()))
    return page_of(rows, args["page"], args["per_page"])


def _admin_move(move: Callable[[], Identified]) -> dict[str, Any]:
    """Run an admin command and answer with the instance."""
    result, failure = run_command(move)
    return instance_answer(result, failure)


@blp.route(ID_RULE + "/suspend", methods=["POST"])
@blp.arguments(ReasonIn, required=False)
@blp.response(200, InstanceDetailOut)
def suspend(body: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Pause an instance (admins): no task can be completed and no timer fires until resumed."""
    engine, who = get_engine(), actor()
    return _admin_move(lambda: engine.suspend(db.session(), instance_id, who, body["reason"]))


@blp.route(ID_RULE + "/resume", methods=["POST"])
@blp.arguments(ReasonIn, required=False)
@blp.response(200, InstanceDetailOut)
def resume(body: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Continue a suspended instance where it stood (admins)."""
    engine, who = get_engine(), actor()
    return _admin_move(lambda: engine.resume(db.session(), instance_id, who, body["reason"]))


@blp.route(ID_RULE + "/terminate", methods=["POST"])
@blp.arguments(ReasonIn, required=False)
@blp.response(200, InstanceDetailOut)
def terminate(body: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """End an instance for good; its open tasks are cancelled (admins)."""
    engine, who = get_engine(), actor()
    return _admin_move(lambda: engine.terminate(db.session(), instance_id, who, body["reason"]))


@blp.route(ID_RULE + "/retry", methods=["POST"])
@blp.arguments(ReasonIn, required=False)
@blp.response(200, InstanceDetailOut, description="retried; status error again if the step fails again")
def retry(body: dict[str, Any], instance_id: int) -> dict[str, Any]:
    """Run the failed step of an instance in status error again (admins).

    The history records who retried which step; a reason sent here is accepted but not stored.
    """
    engine, who = get_engine(), actor()
    return _admin_move(lambda: engine.retry(db.session(), instance_id, who))
