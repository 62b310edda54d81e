"""The API tokens page: a signed-in user creates (secret shown once), lists and revokes their tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from engine.api_tokens import NAME_MAX, create_token, list_tokens, revoke_token
from engine.users import UserInputError

from .display import local_time
from .extensions import db

bp = Blueprint("tokens", __name__)


class NewTokenForm(FlaskForm):
    """What the new token is for."""

    name = StringField(_l("What uses this token"), validators=[DataRequired(), Length(max=NAME_MAX)],
                       render_kw={"placeholder": _l("e.g. nightly export script"), "autocomplete": "off"})


class RevokeForm(FlaskForm):
    """Only the CSRF token: revoking is a POST."""


def _page(form: NewTokenForm, secret: str | None = None, status: int = 200) -> tuple[str, int]:
    tokens = list_tokens(db.session(), current_user.username)
    db.session.rollback()  # a read: end it before rendering
    return render_template("tokens.html", form=form, revoke=RevokeForm(), tokens=tokens, secret=secret,
                           local_time=local_time), status


@bp.get("/account/tokens")
@login_required
def index() -> tuple[str, int]:
    """List the user's tokens with a form for a new one."""
    return _page(NewTokenForm())


@bp.post("/account/tokens")
@login_required
def create() -> tuple[str, int]:
    """Create a token and show its secret on this one page only."""
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    try:
        _view, secret = create_token(db.session(), current_user.username, form.name.data or "",
                                     datetime.now(UTC))
    except UserInputError:
        db.session.rollback()
        form.name.errors = [*form.name.errors, _("This token could not be created.")]
        return _page(form, status=422)
    db.session.commit()
    return _page(NewTokenForm(formdata=None), secret=secret, status=201)


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> Response:
    """Revoke one of the user's own tokens."""
    if not RevokeForm().validate_on_submit():
        abort(400)
    if not revoke_token(db.session(), token_id, datetime.now(UTC), username=current_user.username):
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("The token has been revoked: calls with it are refused from now on."), "success")
    return redirect(url_for("tokens.index"))
