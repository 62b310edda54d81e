"""Comments and photos on a case from the web pages: the task page, the case page and the print view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import notes
from engine.errors import Forbidden, InvalidData, NotFound
from engine.store.unit_of_work import run_unit

from .auth import roles_required, safe_next
from .display import display_names, local_time, person
from .engine_ext import actor, now
from .extensions import db
from .files_ext import file_store, max_upload_bytes

bp = Blueprint("notes", __name__)


@dataclass(frozen=True)
class Note:
    """A comment or an attachment as a page lists it."""

    at: str
    who: str
    text: str
    url: str | None = None  # the file
    thumb: str | None = None  # its thumbnail
    kind: str = "comment"


def file_url(view: notes.AttachmentView, thumbnail: bool = False) -> str:
    """Return the URL of an attachment's bytes or thumbnail."""
    url = url_for("api_v1_case_notes.get_attachment", instance_id=view.instance_id, attachment_id=view.id)
    return url + "?thumbnail=true" if thumbnail else url


def case_notes(instance_id: int) -> list[Note]:
    """Return a case's comments and attachments, oldest first, as pages show them (empty if not visible)."""
    session, who, moment = db.session(), actor(), now()
    try:
        said = notes.comments(session, instance_id, who, moment)
        files = notes.attachments(session, instance_id, who, moment)
    except (Forbidden, NotFound):
        return []
    names = display_names(session, [*(c.author for c in said), *(a.author for a in files)])
    rows: list[tuple[Any, Note]] = [
        (c.at, Note(local_time(c.at), person(names, c.author), c.body)) for c in said]
    rows += [(a.at, Note(local_time(a.at), person(names, a.author), a.filename, file_url(a),
                         file_url(a, True) if a.thumbnail else None, "file")) for a in files]
    return [n for _at, n in sorted(rows, key=lambda pair: pair[0])]


def attachment_thumbs(instance_id: int) -> dict[int, str]:
    """Return attachment id → thumbnail URL (or file URL) for the history timeline."""
    try:
        files = notes.attachments(db.session(), instance_id, actor(), now())
    except (Forbidden, NotFound):
        return {}
    return {a.id: file_url(a, a.thumbnail) for a in files}


@bp.post("/instances/<int:instance_id>/notes")
@roles_required()
def add(instance_id: int) -> Response:
    """Add a comment and/or a photo to a case, then go back to the page the form was on."""
    back = safe_next(request.form.get("next"))
    text = (request.form.get("body") or "").strip()
    upload = request.files.get("file")
    task_id = request.form.get("task_id") or None
    session, who, moment = db.session(), actor(), now()
    try:
        notes.comments(session, instance_id, who, moment)  # 404/403 before anything is read
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    if not text and (upload is None or not upload.filename):
        flash(_("Write a comment or choose a photo first."), "error")
        return redirect(back)
    limit = max_upload_bytes()
    try:
        if text:
            run_unit(session, lambda: notes.add_comment(session, instance_id, who, text, moment, task_id))
        if upload is not None and upload.filename:
            data = upload.read(limit + 1)
            name = upload.filename or ""
            run_unit(session, lambda: notes.add_attachment(session, file_store(), instance_id, who, name,
                                                           data, moment, task_id, limit))
    except InvalidData as refused:
        flash(_("Not saved: %(reason)s", reason=_upload_reason(refused, limit)), "error")
        return redirect(back)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    flash(_("Saved to the case."), "success")
    return redirect(back)


def _upload_reason(refused: InvalidData, limit: int) -> str:
    """Say in the user's words why a comment or a file was refused."""
    text = " ".join(str(r) for rs in refused.fields.values() for r in rs)
    if "body" in refused.fields:
        return _("a comment holds at most %(n)d characters.", n=notes.MAX_COMMENT)
    if "MB" in text:
        return _("the file is larger than %(mb)d MB.", mb=limit // 1048576)
    if "empty" in text:
        return _("the file is empty.")
    return _("only photos (JPEG, PNG, WebP, HEIC) and PDF files can be attached.")
