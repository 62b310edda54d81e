"""The home page: sends signed-in staff to their inbox."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .nav import route_exists

bp = Blueprint("home", __name__)

INBOX_PATH = "/inbox"


@bp.get("/")
def index() -> Response | str:
    """Redirect to the inbox (or the sign-in page); show a welcome page while no inbox is installed."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if route_exists(INBOX_PATH):
        return redirect(INBOX_PATH)
    return render_template("home.html")
