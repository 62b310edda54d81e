"""Sign-in, sign-out and language choice; who the current user is and what roles they hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Request,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_time
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from engine import domain
from engine.api_tokens import authenticate_token
from engine.users import (
    MIN_PASSWORD_LENGTH,
    SignInThrottle,
    SignInThrottled,
    StaffAccount,
    UserInputError,
    change_own_password,
    end_sessions,
    get_account,
    set_locale,
    sign_in,
)

from .extensions import db, login_manager
from .i18n import SESSION_KEY, SUPPORTED_LOCALES

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


class SignedInUser(UserMixin):
    """A snapshot of the signed-in user for views and templates (never an ORM object)."""

    def __init__(self, user_id: int, username: str, display_name: str, roles: frozenset[str],
                 locale: str | None, token: str, must_change_password: bool = False) -> None:
        self.id = user_id
        self.must_change_password = must_change_password
        self.username = username
        self.display_name = display_name or username
        self.roles = roles
        self.locale = locale
        self._token = token

    @classmethod
    def from_account(cls, account: StaffAccount) -> SignedInUser:
        """Snapshot a staff account."""
        return cls(account.id, account.username, account.display_name, account.roles, account.locale,
                   account.credential_stamp, account.must_change_password)

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
    """Authenticate API scripts by a personal token (`Authorization: Bearer`) or HTTP Basic (SPEC §5)."""
    auth = req.authorization
    if not is_api_request() or auth is None:
        return None
    if auth.type == "bearer":
        return _load_user_from_token(auth.token or "")
    if auth.type != "basic":
        return None
    try:
        account = sign_in(db.session(), auth.username or "", auth.password or "", datetime.now(UTC),
                          throttle=signin_throttle(), client=client_address())
    except SignInThrottled as exc:
        raise TooManyRequests(str(exc), retry_after=_seconds_until(exc.until)) from exc
    # Runs from the early before_request hook (see security.py), so the session holds nothing
    # else yet: committing here only stores the failure count or its reset.
    db.session.commit()
    return SignedInUser.from_account(account) if account is not None else None


def _load_user_from_token(secret: str) -> SignedInUser | None:
    """Authenticate by API token: one indexed lookup of its SHA-256, no password hashing per call."""
    account, noted = authenticate_token(db.session(), secret, datetime.now(UTC))
    if noted:
        # Runs before the view (see security.py): the commit stores only the token's last-use time,
        # whatever the view then does. Otherwise the lookup needs no commit of its own.
        db.session.commit()
    return SignedInUser.from_account(account) if account is not None else None


def signin_throttle() -> SignInThrottle:
    """Return this app's record of failed sign-ins per client."""
    throttle = current_app.extensions.get("signin_throttle")
    if throttle is None:
        throttle = current_app.extensions.setdefault("signin_throttle", SignInThrottle())
    return cast(SignInThrottle, throttle)


def client_address() -> str:
    """Return the address the request came from (the peer; no proxy headers are trusted)."""
    return request.remote_addr or "unknown"


def _seconds_until(until: datetime) -> int:
    return max(1, int((until - datetime.now(UTC)).total_seconds()) + 1)


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
def login() -> Response | str | tuple[str, int]:
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
        throttle, client = signin_throttle(), client_address()
        try:
            account = sign_in(db.session(), username, form.password.data or "", now,
                              locale=lang if lang in SUPPORTED_LOCALES else None,
                              throttle=throttle, client=client)
        except SignInThrottled as exc:
            error = _("Too many failed sign-in attempts from this address. Try again after %(time)s.",
                      time=format_time(exc.until, "HH:mm"))
            return render_template("login.html", form=form, error=error), 429
        if account is not None:
            signed_in = SignedInUser.from_account(account)
            db.session.commit()
            session.clear()  # drop anything from before sign-in, but keep the language
            if lang in SUPPORTED_LOCALES:
                session[SESSION_KEY] = lang
            login_user(signed_in)
            return redirect(target)
        # Told from this client's own failures, so known and unknown usernames answer alike.
        until = throttle.lock_ends(client, username, now)
        db.session.commit()  # keep the failure count
        if until is not None:
            error = _("Too many failed sign-in attempts. This account is locked until %(time)s.",
                      time=format_time(until, "HH:mm"))
        else:
            error = _("Wrong username or password.")
    return render_template("login.html", form=form, error=error)


# What a user who must change their password may still reach.
_WHILE_CHANGING = frozenset({"auth.change_password", "auth.logout", "auth.set_language", "static"})
MUST_CHANGE_MESSAGE = ("this account still has its published demo password: sign in on the web page "
                       "and choose a new password first")


@bp.before_app_request
def require_password_change() -> Response | None:
    """Hold a user with a public (demo) password at the change-password page; API calls get a 403."""
    if request.endpoint in _WHILE_CHANGING or not current_user.is_authenticated:
        return None
    if not getattr(current_user, "must_change_password", False):
        return None
    if is_api_request():
        abort(403, description=MUST_CHANGE_MESSAGE)
    return redirect(url_for("auth.change_password"))


class ChangePasswordForm(FlaskForm):
    """Current password, then the new one twice."""

    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)],
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(),
                                        EqualTo("new_password", _l("The two entries differ."))],
                            render_kw={"autocomplete": "new-password"})


_CHANGE_ERRORS = {
    "is not your current password": _l("This is not your current password."),
    "must differ from the current password": _l("Choose a password different from the current one."),
}


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> Response | str | tuple[str, int]:
    """Let the signed-in user choose a new password (required first for demo accounts)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            account = change_own_password(db.session(), current_user.id, form.current_password.data or "",
                                          form.new_password.data or "")
        except UserInputError as refused:
            db.session.rollback()
            field = getattr(form, refused.field, form.new_password)
            field.errors = [*field.errors, _CHANGE_ERRORS.get(refused.message) or _(
                "Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)]
            return render_template("change_password.html", form=form), 422
        db.session.commit()
        login_user(SignedInUser.from_account(account))  # the new password changed the session stamp
        flash(_("Your password has been changed."), "success")
        return redirect(url_for("home.index"))
    return render_template("change_password.html", form=form), (422 if form.errors else 200)


@bp.post("/logout")
def logout() -> Response:
    """Sign out (POST only, so a link or image elsewhere cannot sign people out)."""
    if current_user.is_authenticated:
        # Sessions are client-side cookies: without this a copy of the cookie would stay valid.
        end_sessions(db.session(), current_user.id)
        db.session.commit()
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
