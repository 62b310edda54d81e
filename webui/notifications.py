"""Notifications in the browser: the bell's count (polled with an ETag), the list, mark read, settings,
and the admin page of webhooks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from department.roles import ADMIN
from engine.errors import EngineError, InvalidData
from engine.notify import channels, prefs
from engine.notify import queries as notify_queries
from engine.notify.events import EVENTS
from engine.notify.formats import FORMATS

from .auth import roles_required
from .engine_ext import actor, now
from .extensions import db
from .i18n import current_locale

bp = Blueprint("notifications", __name__)

EVENT_LABELS = {
    "task_assigned": _l("A task is assigned to me"), "task_ready": _l("A task is ready for my role"),
    "task_claimed": _l("A task was taken by someone else"),
    "task_reassigned": _l("A task is reassigned to me"),
    "deadline_near": _l("A deadline is near"), "escalation": _l("A deadline passed (escalation)"),
    "instance_ended": _l("A case I started or own ended"),
    "instance_rejected": _l("A case I started was rejected"),
    "process": _l("Notices defined by the process"),
}
POLL_SECONDS = 5  # the bell's short polling; an unchanged list costs a 304 with no body


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    """Give every page the bell's first count (the script keeps it current)."""

    def notification_badge() -> notify_queries.Badge:
        return notify_queries.badge(db.session(), actor().username)

    return {"notification_badge": notification_badge}


@bp.get("/notifications/badge")
@roles_required()
def badge() -> Response:
    """Return {"unread": n}; answers 304 when the caller's ETag still matches."""
    found = notify_queries.badge(db.session(), actor().username)
    db.session.rollback()
    etag = f'"{found.tag}"'
    if request.headers.get("If-None-Match") == etag:
        answer = Response(status=304)
    else:
        answer = jsonify({"unread": found.unread, "tag": found.tag})
    answer.headers["ETag"] = etag
    answer.headers["Cache-Control"] = "no-cache, private"
    return answer


@bp.get("/notifications")
@roles_required()
def index() -> str:
    """List my notifications, newest first, with my preferences below."""
    session, who = db.session(), actor().username
    items = notify_queries.recent(session, who)
    pref = prefs.preferences(session, [who]).get(who)
    zh = current_locale() == "zh"
    lines = [{"id": n.id, "title": n.title_zh if zh else (n.title_en or n.title_zh),
              "message": n.message_zh if zh else (n.message_en or n.message_zh), "event": n.event,
              "event_label": EVENT_LABELS.get(n.event, n.event), "urgent": n.urgent, "path": n.path,
              "at": n.created_at, "read": n.read} for n in items]
    settings = {"email": pref.email if pref else "", "email_enabled": pref.email_enabled if pref else True,
                "quiet_start": (pref.quiet_start or "") if pref else "",
                "quiet_end": (pref.quiet_end or "") if pref else "",
                "muted": {c: prefs.muted(pref, c) for c in prefs.CHANNELS}}
    return render_template("notifications/index.html", lines=lines, settings=settings,
                           events=[(e, EVENT_LABELS[e]) for e in EVENTS], errors={})


@bp.post("/notifications/<int:delivery_id>/read")
@roles_required()
def read_one(delivery_id: int) -> Response:
    """Mark one notification read and open what it is about."""
    notify_queries.mark_read(db.session(), actor().username, now(), delivery_id)
    db.session.commit()
    target = request.form.get("next") or ""
    return redirect(target if target.startswith("/") and not target.startswith("//")
                    else url_for("notifications.index"))


@bp.post("/notifications/read-all")
@roles_required()
def read_all() -> Response:
    """Mark every notification of mine read."""
    notify_queries.mark_read(db.session(), actor().username, now())
    db.session.commit()
    return redirect(url_for("notifications.index"))


@bp.post("/notifications/settings")
@roles_required()
def save_settings() -> Response:
    """Store my preferences: e-mail, quiet hours, which events on which channel."""
    form = request.form
    data: dict[str, Any] = {
        "email": form.get("email", ""), "email_enabled": form.get("email_enabled") == "on",
        "quiet_start": form.get("quiet_start", ""), "quiet_end": form.get("quiet_end", ""),
        "muted": {c: [e for e in EVENTS if form.get(f"{c}:{e}") != "on"] for c in prefs.CHANNELS}}
    try:
        prefs.save(db.session(), actor().username, data)
    except InvalidData as exc:
        db.session.rollback()
        flash(_("Preferences not saved: %(reasons)s", reasons="; ".join(
            f"{k}: {', '.join(v)}" for k, v in exc.fields.items())), "error")
        return redirect(url_for("notifications.index"))
    db.session.commit()
    flash(_("Preferences saved"), "success")
    return redirect(url_for("notifications.index"))


@bp.get("/notifications/admin")
@roles_required(ADMIN)
def admin() -> str:
    """The webhooks: what each receives and how its deliveries went."""
    views = notify_queries.channel_views(db.session())
    db.session.rollback()
    return render_template("notifications/admin.html", hooks=views, formats=FORMATS)


@bp.post("/notifications/admin/webhooks")
@roles_required(ADMIN)
def add_webhook() -> Response:
    """Add a webhook from the admin form."""
    form = request.form
    try:
        channels.add_webhook(db.session(), form.get("url", ""), fmt=form.get("format", "generic"),
                             roles=form.get("roles", "").split(), users=form.get("users", "").split(),
                             actor=actor().username, now=now())
    except InvalidData as exc:
        db.session.rollback()
        flash(_("Webhook not added: %(reasons)s", reasons="; ".join(
            f"{k}: {', '.join(v)}" for k, v in exc.fields.items())), "error")
        return redirect(url_for("notifications.admin"))
    db.session.commit()
    flash(_("Webhook added"), "success")
    return redirect(url_for("notifications.admin"))


@bp.post("/notifications/admin/webhooks/<int:channel_id>/<any(test, disable, enable):action>")
@roles_required(ADMIN)
def webhook_action(channel_id: int, action: str) -> Response:
    """Send a test message to a webhook, or switch it off or on."""
    session = db.session()
    try:
        if action == "test":
            channels.send_test(session, channel_id, actor=actor().username, now=now())
        else:
            channels.set_active(session, channel_id, action == "enable")
    except EngineError:
        session.rollback()
        abort(404)
    session.commit()
    flash(_("Test message queued") if action == "test" else _("Webhook updated"), "success")
    return redirect(url_for("notifications.admin"))
