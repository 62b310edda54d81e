"""The task inbox: my tasks, my roles' open tasks and (for managers) all, with filters and counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from engine import domain
from engine.actor import Actor
from engine.store import eligibility, queries
from engine.store.eligibility import Block
from engine.store.queries import TaskView

from .auth import roles_required
from .blocked import reason
from .display import case_number, display_names, local_time, person, pick
from .engine_ext import actor, now
from .extensions import db
from .i18n import localized_role

bp = Blueprint("inbox", __name__)

PER_PAGE = 20
TAB_LABELS = {"mine": _l("My tasks"), "group": _l("My roles"), "all": _l("All")}


@dataclass(frozen=True)
class Due:
    """A deadline as people read it: absolute Shanghai time, relative words, overdue or not."""

    absolute: str
    text: str
    overdue: bool


def due_info(due_at: datetime | None, overdue: bool, moment: datetime) -> Due | None:
    """Describe a task's deadline relative to now (None when it has none)."""
    if due_at is None:
        return Due("", _("Overdue"), True) if overdue else None
    absolute = local_time(due_at)
    if overdue or due_at < moment:
        late = moment - due_at
        if late.total_seconds() < 60:
            return Due(absolute, _("Overdue"), True)
        return Due(absolute, _("Overdue by %(time)s", time=format_timedelta(
            late, granularity="minute", threshold=1)), True)
    return Due(absolute, _("Due %(when)s", when=format_timedelta(
        due_at - moment, granularity="minute", add_direction=True, threshold=1)), False)


def process_names(session: Session) -> dict[str, str]:
    """Return each deployed process's name (newest version) in the active language, by key."""
    return {key: pick(zh, en) for key, (zh, en) in queries.process_names(session).items()}


def may_claim(task: TaskView, who: Actor) -> bool:
    """Tell whether the actor may take this open, unclaimed task of their role."""
    return (task.status == "open" and task.assignee is None
            and task.role in domain.current().effective_roles(who.roles))


def may_release(task: TaskView, who: Actor) -> bool:
    """Tell whether the actor may give this task back to its role."""
    return task.status == "open" and task.assignee == who.username and not task.assigned_by_process


@dataclass(frozen=True)
class InboxRow:
    """One task line of the inbox."""

    id: str
    url: str
    title: str
    process: str
    case_no: str
    instance_title: str
    role: str
    assignee: str | None
    mine: bool
    received: str
    due: Due | None
    can_claim: bool
    can_release: bool
    blocked: str | None = None  # why the viewer may not do it (separation of duties, case paused)


def _shown_block(block: Block | None) -> Block | None:
    """Keep the blocks worth a badge in a list: rules and paused cases, not "someone else has it"."""
    return block if block is not None and block.code not in ("assigned", "role", "closed") else None


def _rows(tasks: list[TaskView], who: Actor, moment: datetime, names: dict[str, str]) -> list[InboxRow]:
    people = display_names(db.session(), (t.assignee for t in tasks))
    blocks = {k: _shown_block(b) for k, b in eligibility.blocks(db.session(), tasks, who).items()}
    return [InboxRow(
        id=t.id, url=url_for("tasks.page", task_id=t.id), title=pick(t.title_zh, t.title_en),
        process=names.get(t.process_key, t.process_key), case_no=case_number(t.instance_id),
        instance_title=t.instance_title, role=localized_role(t.role),
        assignee=person(people, t.assignee) if t.assignee else None, mine=t.assignee == who.username,
        received=local_time(t.created_at),
        due=None if (b := blocks[t.id]) is not None and b.code.startswith("case_")
        else due_info(t.due_at, t.overdue, moment),
        can_claim=may_claim(t, who) and b is None, can_release=may_release(t, who) and b is None,
        blocked=reason(b, people) if b is not None else None) for t in tasks]


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.get("/inbox")
@roles_required()
def index() -> str:
    """Show one tab of the inbox, filtered by process and overdue, soonest deadline first."""
    who, moment, session = actor(), now(), db.session()
    observer = queries.may_observe(who)
    counts = queries.count_tasks(session, who, moment)
    # Land where the work is: my roles' queue when I hold nothing yet but it has work.
    default = "group" if counts["mine"] == 0 and counts["group"] > 0 else "mine"
    tab = request.args.get("tab", default)
    if tab not in TAB_LABELS:
        tab = default
    if tab == "all" and not observer:
        abort(403)
    names = process_names(session)
    process = request.args.get("process") or None
    if process not in names:
        process = None
    overdue_only = request.args.get("overdue") == "1"
    page = queries.list_tasks(session, who, moment, scope=tab, process_key=process,
                              overdue=True if overdue_only else None, page=_page_number(),
                              per_page=PER_PAGE, with_forms=False, unclaimed=True)
    if observer:
        counts["all"] = queries.list_tasks(session, who, moment, scope="all", per_page=1,
                                           with_forms=False).total
    filters: dict[str, Any] = {"process": process, "overdue": "1" if overdue_only else None}
    tabs = [(key, label, counts.get(key, 0), url_for(".index", tab=key, **filters))
            for key, label in TAB_LABELS.items() if key != "all" or observer]
    return render_template(
        "inbox/index.html", tab=tab, tabs=tabs, rows=_rows(page.items, who, moment, names), page=page,
        names=names, process=process, overdue_only=overdue_only, overdue_count=counts["overdue"],
        filters=filters, filtered=bool(process or overdue_only),
        page_url=lambda n: url_for(".index", tab=tab, page=n, **filters),
        return_to=request.full_path.rstrip("?"))
