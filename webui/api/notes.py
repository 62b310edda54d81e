"""Comments and attachments on a case: what was found and done on site, with photos."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, request
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import Schema, fields

from engine import notes
from engine.store import queries

from ..engine_ext import actor, now
from ..extensions import db
from ..files_ext import file_store, max_upload_bytes
from .common import ApiBlueprint, fail, read, run_command
from .schemas import MAX_ID, Text

blp = ApiBlueprint("case-notes", __name__, url_prefix="/api/v1/process-instances",
                   description="Comments and attachments (photos, PDFs) on a case, readable by whoever may "
                               "read the case. Files are stored outside the database under their SHA-256.")

ID_RULE = f"/<int(min=1, max={MAX_ID}):instance_id>"


class CommentIn(Schema):
    """A comment, optionally on one of the case's tasks."""

    body = Text(required=True, max_length=notes.MAX_COMMENT)
    task_id = fields.UUID(load_default=None, allow_none=True)


class CommentOut(Schema):
    """A comment."""

    id = fields.Integer(required=True)
    instance_id = fields.Integer(required=True)
    task_id = fields.String(allow_none=True, required=True)
    author = fields.String(required=True)
    at = fields.DateTime(required=True)
    body = fields.String(required=True)


class AttachmentIn(Schema):
    """A file (photo: JPEG, PNG, WebP, HEIC; or PDF), optionally on one of the case's tasks."""

    file = Upload(load_default=None, metadata={"description": "required: the file"})
    task_id = fields.UUID(load_default=None, allow_none=True)


class AttachmentOut(Schema):
    """An attachment; fetch its bytes (or thumbnail) from its own URL."""

    id = fields.Integer(required=True)
    instance_id = fields.Integer(required=True)
    task_id = fields.String(allow_none=True, required=True)
    author = fields.String(required=True)
    at = fields.DateTime(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    thumbnail = fields.Boolean(required=True)


class FileArgs(Schema):
    """Which bytes: the file itself or its thumbnail."""

    thumbnail = fields.Boolean(load_default=False)


def _task(value: Any) -> str | None:
    return str(value) if value is not None else None


# One rule per URL with both methods (a MethodView): with two rules, Werkzeug answers 405 instead of 404
# for an instance id outside the converter's range.
@blp.route(ID_RULE + "/comments")
class Comments(MethodView):
    """A case's comments."""

    @blp.response(200, CommentOut(many=True))
    def get(self, instance_id: int) -> list[dict[str, Any]]:
        """Return a case's comments, oldest first."""
        found = read(lambda: notes.comments(db.session(), instance_id, actor(), now()))
        return [notes.as_dict(c) for c in found]

    @blp.arguments(CommentIn)
    @blp.response(201, CommentOut)
    def post(self, body: dict[str, Any], instance_id: int) -> dict[str, Any]:
        """Write a comment on a case (422: empty or too long; 403: the case is not visible to you)."""
        who, moment = actor(), now()
        view, _failure = run_command(lambda: notes.add_comment(
            db.session(), instance_id, who, body["body"], moment, _task(body.get("task_id"))))
        assert view is not None
        return notes.as_dict(view)


@blp.route(ID_RULE + "/attachments")
class Attachments(MethodView):
    """A case's attachments."""

    @blp.response(200, AttachmentOut(many=True))
    def get(self, instance_id: int) -> list[dict[str, Any]]:
        """Return a case's attachments, oldest first."""
        found = read(lambda: notes.attachments(db.session(), instance_id, actor(), now()))
        return [notes.as_dict(a) for a in found]

    @blp.arguments(AttachmentIn, location="files")
    @blp.response(201, AttachmentOut)
    def post(self, files: dict[str, Any], instance_id: int) -> dict[str, Any]:
        """Attach a photo or PDF to a case (multipart field `file`; optional form field `task_id`).

        422 names the refused file: empty, larger than the limit (10 MB by default), or not a photo/PDF
        (the bytes are checked, not the name). Photos get a thumbnail.
        """
        limit = max_upload_bytes()
        if request.content_length is not None and request.content_length > limit + 65536:
            fail(413, "too_large", f"at most {limit // 1048576} MB per file")
        who, moment = actor(), now()
        read(lambda: queries.get_instance(db.session(), instance_id, who, moment))  # 404/403 before the file
        upload = files.get("file")
        if upload is None:
            fail(422, "invalid_data", "attachment refused",
                 {"file": ["send the file as multipart field `file`"]})
        data = upload.read(limit + 1)
        task_id = request.form.get("task_id") or None
        name = upload.filename or ""
        view, _failure = run_command(lambda: notes.add_attachment(
            db.session(), file_store(), instance_id, who, name, data, moment, task_id, limit))
        assert view is not None
        return notes.as_dict(view)


@blp.route(ID_RULE + "/attachments/<int(min=1, max=9223372036854775807):attachment_id>")
@blp.arguments(FileArgs, location="query")
@blp.response(200, description="the file's bytes (or its JPEG thumbnail)")
def get_attachment(args: dict[str, Any], instance_id: int, attachment_id: int) -> Response:
    """Return an attachment's bytes, or `?thumbnail=true` its JPEG thumbnail (404 when it has none)."""
    view = read(lambda: notes.attachment(db.session(), attachment_id, actor(), now()))
    if view.instance_id != instance_id or (args["thumbnail"] and not view.thumbnail):
        fail(404, "not_found", f"attachment {attachment_id} of case {instance_id} does not exist")
    return file_response(view, args["thumbnail"])


def file_response(view: notes.AttachmentView, thumbnail: bool) -> Response:
    """Send stored bytes with their sniffed type; never rendered inline as anything but an image or PDF."""
    try:
        # At most the upload limit: read whole, leaving no open file handle behind the response.
        data = file_store().read(view.sha256, thumbnail)
    except FileNotFoundError:
        fail(404, "file_missing", f"the stored file of attachment {view.id} is missing")
    response = Response(data, mimetype="image/jpeg" if thumbnail else view.content_type)
    response.set_etag(view.sha256 + ("-thumb" if thumbnail else ""))
    response.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(view.filename)}"
    response.make_conditional(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
