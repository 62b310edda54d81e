"""Staff accounts: password hashing, creation, sign-in with throttling, demo users. Callers commit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import domain
from engine.domain import DemoAccount
from engine.store.models import User, UserRole

USERNAME_RE = re.compile(r"[a-z0-9_.-]{2,64}")
MIN_PASSWORD_LENGTH = 8
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)


@dataclass(frozen=True)
class ScryptParams:
    """Cost parameters of scrypt; stored in every hash so they can be raised later."""

    n: int = 2**14
    r: int = 8
    p: int = 1


# Module-level so tests can lower the cost; hashes record their own parameters, so verifying
# a hash made with other parameters still works.
SCRYPT = ScryptParams()
_SALT_BYTES = 16
_KEY_BYTES = 32
_SCHEME = "scrypt"


class UserInputError(ValueError):
    """Bad input for an account; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(password: str, salt: bytes, params: ScryptParams) -> bytes:
    # maxmem above the 128·n·r working set; the default 32 MiB limit is tight for n=2**15.
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=params.n, r=params.r, p=params.p,
                          dklen=_KEY_BYTES, maxmem=256 * params.n * params.r + 1024 * 1024)


def hash_password(password: str) -> str:
    """Hash a password as `scrypt$n$r$p$salt$key` with a fresh random salt."""
    params = SCRYPT
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, params)
    return f"{_SCHEME}${params.n}${params.r}${params.p}${_b64(salt)}${_b64(key)}"


def _parse(password_hash: str) -> tuple[ScryptParams, bytes, bytes] | None:
    parts = password_hash.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    # Refuse absurd parameters from a tampered row rather than burning memory on them.
    if not (2 <= params.n <= 2**20 and params.n & (params.n - 1) == 0 and 1 <= params.r <= 32
            and 1 <= params.p <= 16):
        return None
    return params, salt, key


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether the password matches the stored hash (constant-time; malformed hashes never match)."""
    parsed = _parse(password_hash or "")
    if parsed is None:
        return False
    params, salt, key = parsed
    return hmac.compare_digest(_scrypt(password, salt, params), key)


def needs_rehash(password_hash: str) -> bool:
    """Tell whether the hash was made with parameters other than the current ones."""
    parsed = _parse(password_hash or "")
    return parsed is None or parsed[0] != SCRYPT


# A hash nobody's password matches, verified when the user does not exist so that the response
# time does not reveal which usernames are taken.
_DUMMY_HASH: str | None = None


def _dummy_verify(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None or needs_rehash(_DUMMY_HASH):
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(_DUMMY_HASH, password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInputError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def _check_roles(roles: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(roles))  # keep order, drop repeats
    if not wanted:
        raise UserInputError("roles", "at least one role is required")
    served = domain.current()
    unknown = [r for r in wanted if not served.is_known_role(r)]
    if unknown:
        known = ", ".join(served.role_ids)
        raise UserInputError("roles", f"unknown role(s) {', '.join(unknown)}; known: {known}")
    return wanted


def get_user(session: Session, username: str) -> User | None:
    """Return the user with this username, or None."""
    if not USERNAME_RE.fullmatch(username):
        # No such user can exist; and PostgreSQL refuses some strings (NUL) in a query outright.
        return None
    return session.scalar(select(User).where(User.username == username))


def create_user(session: Session, username: str, password: str, roles: Iterable[str],
                display_name: str = "", now: datetime | None = None) -> User:
    """Validate and add a new user with roles; raise UserInputError naming the bad field."""
    if not USERNAME_RE.fullmatch(username):
        raise UserInputError("username", "use 2–64 characters: lower-case letters, digits, _ . -")
    wanted = _check_roles(roles)
    _check_password(password)
    if len(display_name) > 128:
        raise UserInputError("display_name", "must be at most 128 characters")
    if get_user(session, username) is not None:
        raise UserInputError("username", f"user {username!r} already exists")
    user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                active=True, created_at=now or datetime.now(UTC), failed_logins=0)
    user.roles = [UserRole(role=r) for r in wanted]
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace the user's password and lift any sign-in lock."""
    _check_password(password)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None


def set_roles(user: User, roles: Iterable[str]) -> None:
    """Replace the roles the user holds."""
    wanted = _check_roles(roles)
    held = {r.role: r for r in user.roles}
    user.roles = [held.get(r) or UserRole(role=r) for r in wanted]


def locked_until(user: User, now: datetime) -> datetime | None:
    """Return when the user's sign-in lock ends, or None when not locked at `now`."""
    if user.locked_until is not None and user.locked_until > now:
        return user.locked_until
    return None


def authenticate(session: Session, username: str, password: str, now: datetime) -> User | None:
    """Return the active user whose password matches, counting failures and locking after too many.

    After MAX_FAILED_LOGINS consecutive failures the account is locked for LOCK_DURATION; while
    locked even the right password is refused. The caller must commit, also on failure, so the
    count is kept.
    """
    user = get_user(session, username)
    if user is None or not user.active:
        _dummy_verify(password)
        return None
    if locked_until(user, now) is not None:
        return None
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCK_DURATION
            user.failed_logins = 0
        return None
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins = 0
        user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def users_with_role(session: Session, role: str) -> list[User]:
    """Return the active users holding the role, by username."""
    stmt = (select(User).join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == role, User.active.is_(True)).order_by(User.username))
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class StaffAccount:
    """A member of staff as the web layer and the CLI see them: a snapshot, never the ORM row."""

    id: int
    username: str
    display_name: str
    roles: frozenset[str]
    locale: str | None
    active: bool
    locked_until: datetime | None
    credential_stamp: str  # changes with the password, so sessions signed in before a change end

    def lock_ends(self, now: datetime) -> datetime | None:
        """Return when the sign-in lock ends, or None when not locked at `now`."""
        return self.locked_until if self.locked_until is not None and self.locked_until > now else None


def credential_stamp(password_hash: str) -> str:
    """Return a short fingerprint of the password hash (never the hash itself) for session cookies."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


def account_view(user: User) -> StaffAccount:
    """Return the snapshot of a user row."""
    return StaffAccount(user.id, user.username, user.display_name or "", user.role_ids, user.locale,
                        bool(user.active), user.locked_until, credential_stamp(user.password_hash))


def get_account(session: Session, user_id: int) -> StaffAccount | None:
    """Return the account with this row id, or None."""
    user = session.get(User, user_id)
    return account_view(user) if user is not None else None


def find_account(session: Session, username: str) -> StaffAccount | None:
    """Return the account with this username, or None."""
    user = get_user(session, username)
    return account_view(user) if user is not None else None


def list_accounts(session: Session) -> list[StaffAccount]:
    """Return every account, by username."""
    return [account_view(u) for u in session.scalars(select(User).order_by(User.username))]


def sign_in(session: Session, username: str, password: str, now: datetime,
            locale: str | None = None) -> StaffAccount | None:
    """Authenticate (see authenticate); on success a given locale becomes the user's language."""
    user = authenticate(session, username, password, now)
    if user is None:
        return None
    if locale is not None and user.locale != locale:
        user.locale = locale
    return account_view(user)


def set_locale(session: Session, user_id: int, locale: str) -> None:
    """Store the user's language (no-op for an unknown id or an unchanged language)."""
    user = session.get(User, user_id)
    if user is not None and user.locale != locale:
        user.locale = locale


def unlock(session: Session, username: str) -> bool:
    """Lift the lock set after too many failed sign-ins; False when there is no such user."""
    user = get_user(session, username)
    if user is None:
        return False
    user.failed_logins = 0
    user.locked_until = None
    return True


def display_names(session: Session, usernames: Iterable[str | None]) -> dict[str, str]:
    """Return username → display name for the given users (unknown users map to themselves)."""
    wanted = sorted({u for u in usernames if u})
    if not wanted:
        return {}
    found = dict(session.execute(select(User.username, User.display_name)
                                 .where(User.username.in_(wanted))).all())
    return {u: found.get(u) or u for u in wanted}


def active_usernames(session: Session) -> list[str]:
    """Return the usernames of active accounts, sorted."""
    return list(session.scalars(select(User.username).where(User.active.is_(True)).order_by(User.username)))


def demo_accounts() -> list[DemoAccount]:
    """Return (username, password, roles) of the demo accounts the installed domain registered."""
    return list(domain.current().demo_accounts)


def ensure_demo_users(session: Session, now: datetime | None = None) -> list[DemoAccount]:
    """Create the demo accounts that are missing (existing ones are left untouched) and list them all."""
    accounts = demo_accounts()
    served = domain.current()
    existing = set(session.scalars(select(User.username).where(
        User.username.in_([username for username, _, _ in accounts]))))
    for username, password, roles in accounts:
        if username in existing:
            continue
        suffix = "2" if username.endswith("2") else ""
        role = served.role(roles[0])
        title = role.zh.split(" / ")[0] if role is not None else roles[0]
        create_user(session, username, password, roles, display_name=f"{title}{suffix}", now=now)
    return accounts
