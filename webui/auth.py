"""Sign-in, sign-out and language choice; who the current user is and what roles they hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, Request, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine import domain
from engine.users import StaffAccount, find_account, get_account, set_locale, sign_in

from .extensions import db, login_manager
from .i18n import SESSION_KEY, SUPPORTED_LOCALES

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


class SignedInUser(UserMixin):
    """A snapshot of the signed-in user for views and templates (never an ORM object)."""

    def __init__(self, user_id: int, username: str, display_name: str, roles: frozenset[str],
                 locale: str | None, token: str) -> None:
        self.id = user_id
        self.username = username
        self.display_name = display_name or username
        self.roles = roles
        self.locale = locale
        self._token = token

    @classmethod
    def from_account(cls, account: StaffAccount) -> SignedInUser:
        """Snapshot a staff account."""
        return cls(account.id, account.username, account.display_name, account.roles, account.locale,
                   account.credential_stamp)

    def get_id(self) -> str:
        """Return the id stored in the session: row id plus a password fingerprint."""
        return f"{self.id}:{self._token}"

    def has_any_role(self, *roles: str) -> bool:
        """Tell whether the user holds at least one of the roles."""
        return not self.roles.isdisjoint(roles)


class CurrentActor(NamedTuple):
    """Who is acting in this request: (username, roles); unpacks like a pair."""

    username: str
    roles: frozenset[str]


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """Rebuild the signed-in user from the session cookie's id, if still active and unchanged."""
    id_part, _sep, token = user_id.partition(":")
    try:
        account = get_account(db.session(), int(id_part))
    except ValueError:
        return None
    # Changing the password changes the stamp, which signs out every other session of that user.
    if account is None or not account.active or token != account.credential_stamp:
        return None
    return SignedInUser.from_account(account)


@login_manager.request_loader
def load_user_from_basic_auth(req: Request) -> SignedInUser | None:
    """Authenticate API scripts by HTTP Basic (SPEC §5), with the same throttling as the form."""
    auth = req.authorization
    if not is_api_request() or auth is None or auth.type != "basic":
        return None
    account = sign_in(db.session(), auth.username or "", auth.password or "", datetime.now(UTC))
    # Runs from the early before_request hook (see security.py), so the session holds nothing
    # else yet: committing here only stores the failure count or its reset.
    db.session.commit()
    return SignedInUser.from_account(account) if account is not None else None


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    """Send browsers to the sign-in page and API callers a 401."""
    if is_api_request():
        abort(401)
    flash(_("Please sign in to continue."), "info")
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def is_api_request() -> bool:
    """Tell whether the request is for the JSON API."""
    return request.path.startswith("/api/")


def roles_required(*roles: str) -> Callable[[F], F]:
    """Let a view through only for signed-in users holding at least one of the roles (none = any user)."""
    unknown = [r for r in roles if not domain.current().is_known_role(r)]
    if unknown:
        raise ValueError(f"roles_required names unknown roles: {unknown}")
    wanted = frozenset(roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if wanted and current_user.roles.isdisjoint(wanted):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def current_actor() -> CurrentActor:
    """Return (username, roles) of the signed-in user; 401 when nobody is signed in."""
    if not current_user.is_authenticated:
        abort(401)
    return CurrentActor(current_user.username, frozenset(current_user.roles))


def _is_local_path(target: str) -> bool:
    """Tell whether the target is a path on this site (not //host, not a scheme, no control chars)."""
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 32 for c in target)):
        return False
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc)


def safe_next(target: str | None) -> str:
    """Return the target if it is a page on this site, else the home page (no open redirects)."""
    default = url_for("home.index")
    target = (target or "").strip()
    if not target or not _is_local_path(target):
        return default
    if urlsplit(target).path in (url_for("auth.login"), url_for("auth.logout")):
        return default
    return target


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none",
                                      "spellcheck": "false", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """Show the sign-in form and sign the user in."""
    target = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = target
    error = None
    if form.validate_on_submit():
        now = datetime.now(UTC)
        username = (form.username.data or "").strip().lower()
        lang = session.get(SESSION_KEY)
        # A language picked on the sign-in page becomes the user's own.
        account = sign_in(db.session(), username, form.password.data or "", now,
                          locale=lang if lang in SUPPORTED_LOCALES else None)
        if account is not None:
            signed_in = SignedInUser.from_account(account)
            db.session.commit()
            session.clear()  # drop anything from before sign-in, but keep the language
            if lang in SUPPORTED_LOCALES:
                session[SESSION_KEY] = lang
            login_user(signed_in)
            return redirect(target)
        existing = find_account(db.session(), username)
        until = existing.lock_ends(now) if existing is not None else None
        db.session.commit()  # keep the failure count
        if until is not None:
            error = _("Too many failed sign-in attempts. This account is locked until %(time)s.",
                      time=format_time(until, "HH:mm"))
        else:
            error = _("Wrong username or password.")
    return render_template("login.html", form=form, error=error)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (POST only, so a link or image elsewhere cannot sign people out)."""
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language/<code>")
def set_language(code: str) -> Response:
    """Switch the UI language; remembered in the session and, when signed in, on the user."""
    if code not in SUPPORTED_LOCALES:
        abort(404)
    session[SESSION_KEY] = code
    if current_user.is_authenticated:
        set_locale(db.session(), current_user.id, code)
        db.session.commit()
    target = (request.form.get("next") or "").strip()
    # The sign-in page itself is a fine place to return to here (with its own ?next=).
    return redirect(target if target and _is_local_path(target) else url_for("home.index"))
