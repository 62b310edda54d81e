"""Staff accounts: creation, sign-in with lockout and throttling, views, demo users. Callers commit."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, literal, or_, select, update
from sqlalchemy.orm import Session

from engine import domain, passwords
from engine.domain import DemoAccount
from engine.store.models import User, UserRole

USERNAME_RE = re.compile(r"[a-z0-9_.-]{2,64}")
MIN_PASSWORD_LENGTH = 8
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
# Failed sign-ins one client may make within LOCK_DURATION, over all accounts (see SignInThrottle).
CLIENT_MAX_FAILURES = 20


class UserInputError(ValueError):
    """Bad input for an account; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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
    user = User(username=username, display_name=display_name, password_hash=passwords.hash_password(password),
                active=True, created_at=now or datetime.now(UTC), failed_logins=0)
    user.roles = [UserRole(role=r) for r in wanted]
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace the user's password and lift any sign-in lock."""
    _check_password(password)
    user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.must_change_password = False


def change_own_password(session: Session, user_id: int, current: str, new: str) -> StaffAccount:
    """Replace a signed-in user's password after checking the current one; return the new snapshot."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise UserInputError("current_password", "this account cannot sign in")
    if not passwords.verify_password(user.password_hash, current):
        raise UserInputError("current_password", "is not your current password")
    if hmac.compare_digest(current.encode("utf-8"), new.encode("utf-8")):
        raise UserInputError("new_password", "must differ from the current password")
    set_password(user, new)
    return account_view(user)


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


def _count_failure(session: Session, user: User, now: datetime) -> None:
    """Count one failed sign-in in a single UPDATE, locking the account when it reaches the limit."""
    # One statement, not read-modify-write: concurrent wrong guesses queue on the row lock and
    # each sees the others' counts, so the lock falls at exactly MAX_FAILED_LOGINS. SET
    # expressions all read the old row, so both CASEs test the same count.
    reached = User.failed_logins + 1 >= MAX_FAILED_LOGINS
    session.execute(
        update(User)
        .where(User.id == user.id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=case((reached, 0), else_=User.failed_logins + 1),
                locked_until=case((reached, literal(now + LOCK_DURATION, User.locked_until.type)),
                                  else_=User.locked_until))
        .execution_options(synchronize_session=False))
    session.expire(user, ["failed_logins", "locked_until"])


def authenticate(session: Session, username: str, password: str, now: datetime,
                 lock_exempt: bool = False) -> User | None:
    """Return the active user whose password matches, counting failures and locking after too many.

    After MAX_FAILED_LOGINS consecutive failures the account is locked for LOCK_DURATION; while
    locked even the right password is refused, unless `lock_exempt` (a client that took no part in
    the failures, see SignInThrottle). The caller must commit, also on failure, so the count is kept.
    It ends the session's transaction after reading the user: call it with no other work pending.
    """
    user = get_user(session, username)
    # scrypt runs for tens of milliseconds: never while holding SQLite's write lock (every
    # transaction takes it at BEGIN), or a flood of wrong guesses slows every other user. The
    # failure count or reset below is written in a short transaction of its own.
    session.commit()
    if user is None or not user.active:
        passwords.dummy_verify(password)
        return None
    if locked_until(user, now) is not None and not lock_exempt:
        passwords.dummy_verify(password)  # a locked account answers as slowly as any other refusal
        return None
    if not passwords.verify_password(user.password_hash, password):
        _count_failure(session, user, now)
        return None
    # Hashed before reading the counts: that read may reopen the transaction.
    new_hash = passwords.hash_password(password) if passwords.needs_rehash(user.password_hash) else None
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins = 0
        user.locked_until = None
    if new_hash is not None:
        user.password_hash = new_hash
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
    must_change_password: bool = False  # a public (demo) password: nothing else until it is changed

    def lock_ends(self, now: datetime) -> datetime | None:
        """Return when the sign-in lock ends, or None when not locked at `now`."""
        return self.locked_until if self.locked_until is not None and self.locked_until > now else None


def credential_stamp(password_hash: str, session_generation: int = 0) -> str:
    """Return a short fingerprint of the password hash and session generation for session cookies."""
    material = password_hash if not session_generation else f"{password_hash}#{session_generation}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def account_view(user: User) -> StaffAccount:
    """Return the snapshot of a user row."""
    return _snapshot(user, user.role_ids)


def _snapshot(user: Any, roles: frozenset[str]) -> StaffAccount:
    """Return the snapshot of a user (an ORM row, or a plain row of `account_rows`) holding these roles."""
    return StaffAccount(user.id, user.username, user.display_name or "", roles, user.locale,
                        bool(user.active), user.locked_until,
                        credential_stamp(user.password_hash, user.session_generation or 0),
                        bool(user.must_change_password))


def end_sessions(session: Session, user_id: int) -> None:
    """Invalidate every session cookie issued to the user so far (sign-out; no-op for an unknown id)."""
    # Atomic, so two sign-outs at once both take effect.
    session.execute(update(User).where(User.id == user_id)
                    .values(session_generation=User.session_generation + 1)
                    .execution_options(synchronize_session=False))


def account_rows() -> Any:
    """Return a statement reading users with their roles, one row per role, to filter and read as accounts."""
    return (select(User.id, User.username, User.display_name, User.locale, User.active,
                   User.locked_until, User.password_hash, User.session_generation, User.must_change_password,
                   UserRole.role)
            .select_from(User).outerjoin(UserRole, UserRole.user_id == User.id))


def account_from_rows(rows: Sequence[Any]) -> StaffAccount | None:
    """Return the account read by an `account_rows` statement (one user's rows), or None without rows."""
    return _snapshot(rows[0], frozenset(r.role for r in rows if r.role)) if rows else None


# Built once: every signed-in request reads its user and roles with it, in one statement.
ACCOUNT_BY_ID = account_rows().where(User.id == bindparam("user_id"))


def get_account(session: Session, user_id: int) -> StaffAccount | None:
    """Return the account with this row id, or None."""
    # Through the session, so a change to the user made earlier in this unit is flushed and seen.
    return account_from_rows(session.execute(ACCOUNT_BY_ID, {"user_id": user_id}).all())


def find_account(session: Session, username: str) -> StaffAccount | None:
    """Return the account with this username, or None."""
    user = get_user(session, username)
    return account_view(user) if user is not None else None


def list_accounts(session: Session) -> list[StaffAccount]:
    """Return every account, by username."""
    return [account_view(u) for u in session.scalars(select(User).order_by(User.username))]


class SignInThrottled(Exception):
    """The client made too many failed sign-ins; refused before any account is looked at."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins from this client; try again after {until:%H:%M} UTC")
        self.until = until


class SignInThrottle:
    """Failed sign-ins per client (in memory, per process): caps each client and scopes locks to it.

    An account lock refuses only the clients that failed against that account in the last
    LOCK_DURATION, so six requests from one address no longer lock the real user out; and a client
    with CLIENT_MAX_FAILURES failures in that time is refused before any hash is computed or any
    account counter moves, which bounds how many accounts (or guesses) one address can burn.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._mutex = threading.Lock()
        self._max_entries = max_entries
        # key -> (failures, window end); key is a client or a (client, username) pair.
        self._counts: dict[object, tuple[int, datetime]] = {}

    def _get(self, key: object, now: datetime) -> tuple[int, datetime] | None:
        entry = self._counts.get(key)
        return entry if entry is not None and entry[1] > now else None

    def blocked_until(self, client: str, now: datetime) -> datetime | None:
        """Return when the client may try again, or None when it is not throttled."""
        with self._mutex:
            entry = self._get(client, now)
        return entry[1] if entry is not None and entry[0] >= CLIENT_MAX_FAILURES else None

    def failures(self, client: str, username: str, now: datetime) -> int:
        """Return how many recent failed sign-ins this client made for this username."""
        with self._mutex:
            entry = self._get((client, username), now)
        return entry[0] if entry is not None else 0

    def lock_ends(self, client: str, username: str, now: datetime) -> datetime | None:
        """Return when this client's lock on this username ends (known or not), or None."""
        with self._mutex:
            entry = self._get((client, username), now)
        return entry[1] if entry is not None and entry[0] >= MAX_FAILED_LOGINS else None

    def record_failure(self, client: str, username: str, now: datetime) -> None:
        """Count a failed sign-in for the client and for the (client, username) pair."""
        with self._mutex:
            if len(self._counts) >= self._max_entries:
                self._prune(now)
            for key in (client, (client, username)):
                entry = self._get(key, now)
                self._counts.pop(key, None)  # re-insert at the end: the dict stays oldest-first
                self._counts[key] = ((entry[0] if entry else 0) + 1, now + LOCK_DURATION)

    def record_success(self, client: str, username: str) -> None:
        """Forget the pair's failures after a successful sign-in (the client's own count stays)."""
        with self._mutex:
            self._counts.pop((client, username), None)

    def _prune(self, now: datetime) -> None:
        # Drop expired entries; if a flood of addresses still fills the table, drop the oldest half.
        self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        if len(self._counts) >= self._max_entries:
            keep = list(self._counts.items())[len(self._counts) // 2:]
            self._counts = dict(keep)


def sign_in(session: Session, username: str, password: str, now: datetime,
            locale: str | None = None, throttle: SignInThrottle | None = None,
            client: str | None = None) -> StaffAccount | None:
    """Authenticate (see authenticate); on success a given locale becomes the user's language.

    With a throttle and a client address, raise SignInThrottled for a throttled client and apply
    an account lock only to clients that took part in the failures (see SignInThrottle).
    """
    exempt = False
    if throttle is not None and client is not None:
        until = throttle.blocked_until(client, now)
        if until is not None:
            raise SignInThrottled(until)
        exempt = throttle.failures(client, username, now) == 0
    user = authenticate(session, username, password, now, lock_exempt=exempt)
    if throttle is not None and client is not None:
        if user is None:
            throttle.record_failure(client, username, now)
        else:
            throttle.record_success(client, username)
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


def ensure_demo_users(session: Session, now: datetime | None = None,
                      must_change_password: bool = False) -> list[DemoAccount]:
    """Create the demo accounts that are missing (existing ones are left untouched) and list them all.

    `bpm demo` sets must_change_password: the passwords are public, so each account must choose
    its own at first sign-in. Test fixtures leave it off.
    """
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
        created = create_user(session, username, password, roles, display_name=f"{title}{suffix}", now=now)
        created.must_change_password = must_change_password
    return accounts
