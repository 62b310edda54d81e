"""Personal API tokens: random, shown once, stored as SHA-256, revocable, with their last use."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.store.models import ApiToken, User
from engine.users import StaffAccount, UserInputError, account_from_rows, account_rows, get_user

PREFIX = "pf_"  # tells a PropertyFlow token apart in logs and secret scanners
NAME_MAX = 64
# Writing the last-use time on every call would turn each read into a write; a minute is precise enough.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenView:
    """A token as lists show it: never the secret."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Tell whether the token still opens the API."""
        return self.revoked_at is None


def digest(secret: str) -> str:
    """Return the stored form of a token: SHA-256 hex (a 256-bit random secret needs no slow hash)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _view(row: ApiToken, username: str) -> TokenView:
    return TokenView(row.id, username, row.name, row.prefix, row.created_at, row.last_used_at, row.revoked_at)


def create_token(session: Session, username: str, name: str, now: datetime) -> tuple[TokenView, str]:
    """Create a token for an active user; return it with its secret, which is never shown again."""
    name = name.strip()
    if not name:
        raise UserInputError("name", "a token needs a name saying what uses it")
    if len(name) > NAME_MAX:
        raise UserInputError("name", f"at most {NAME_MAX} characters")
    user = get_user(session, username)
    if user is None or not user.active:
        raise UserInputError("username", f"{username!r} is not an active user")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=digest(secret), prefix=secret[:10], created_at=now)
    session.add(row)
    session.flush()
    return _view(row, user.username), secret


def list_tokens(session: Session, username: str | None = None) -> list[TokenView]:
    """Return tokens, newest first: one user's, or everyone's."""
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
    if username is not None:
        query = query.where(User.username == username)
    return [_view(t, u) for t, u in session.execute(query.order_by(ApiToken.id.desc()))]


def revoke_token(session: Session, token_id: int, now: datetime, username: str | None = None) -> bool:
    """Revoke a token (only `username`'s when given); return False when there is no such active token."""
    query = update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    if username is not None:
        query = query.where(ApiToken.user_id == select(User.id).where(User.username == username)
                            .scalar_subquery())
    done = session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))
    return bool(getattr(done, "rowcount", 0))


def _by_digest() -> Any:
    """Build the statement reading an unrevoked token of an active user, with the user and their roles."""
    return (account_rows().add_columns(ApiToken.id.label("token_id"), ApiToken.last_used_at)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None),
                   User.active.is_(True)))


# Built once, read as plain rows: every request of a script pays for this lookup.
BY_DIGEST = _by_digest()
TOUCH = update(ApiToken).where(ApiToken.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


class TokenCheck(NamedTuple):
    """Whose token it is (None: nobody's), and whether its last-use time was written (then commit)."""

    account: StaffAccount | None
    noted: bool = False


def authenticate_token(session: Session, secret: str, now: datetime) -> TokenCheck:
    """Return the account of an unrevoked token of an active user; note its use at most once a minute."""
    if not secret.startswith(PREFIX):
        return TokenCheck(None)
    rows = session.connection().execute(BY_DIGEST, {"digest": digest(secret)}).all()
    if not rows:
        return TokenCheck(None)
    first = rows[0]
    noted = first.last_used_at is None or now - first.last_used_at >= LAST_USED_PRECISION
    if noted:
        session.connection().execute(TOUCH, {"token_id": first.token_id, "now": now})
    return TokenCheck(account_from_rows(rows), noted)
