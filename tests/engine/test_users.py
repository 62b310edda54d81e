"""Password hashing, account creation, sign-in throttling and demo users."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

import engine.passwords as passwords
from department.roles import ROLES
from engine.passwords import ScryptParams, hash_password, needs_rehash, verify_password
from engine.users import (
    LOCK_DURATION,
    UserInputError,
    authenticate,
    create_user,
    ensure_demo_users,
    get_user,
    set_password,
    set_roles,
    users_with_role,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep scrypt cheap except where a test asks for the real parameters."""
    monkeypatch.setattr(passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))


def test_hash_records_scheme_params_and_salt() -> None:
    stored = hash_password("correct horse")
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "8", "1")
    assert salt and key


def test_default_parameters_are_strong_and_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "SCRYPT", ScryptParams())
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password(stored, "correct horse")


def test_same_password_gets_a_different_salt() -> None:
    assert hash_password("same-password") != hash_password("same-password")


def test_verify_accepts_the_right_password_only() -> None:
    stored = hash_password("correct horse")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert not verify_password(stored, "")


@pytest.mark.parametrize("bad", ["", "!", "plain", "scrypt$16$8$1$@@@$@@@", "scrypt$15$8$1$AAAA$AAAA",
                                 "scrypt$4194304$8$1$AAAA$AAAA", "bcrypt$16$8$1$AAAA$AAAA"])
def test_malformed_or_hostile_hashes_never_match(bad: str) -> None:
    assert not verify_password(bad, "anything")


def test_hashes_with_other_parameters_still_verify_and_ask_for_rehash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    old = hash_password("correct horse")
    monkeypatch.setattr(passwords, "SCRYPT", ScryptParams(n=2**5, r=8, p=1))
    assert verify_password(old, "correct horse")
    assert needs_rehash(old)
    assert not needs_rehash(hash_password("x" * 8))


def test_create_user_stores_roles_and_a_hash(session: Session) -> None:
    user = create_user(session, "wang.wei", "long-enough", ["cs_assistant", "night_duty", "cs_assistant"],
                       display_name="王伟", now=NOW)
    session.commit()
    assert user.role_ids == {"cs_assistant", "night_duty"}
    assert user.password_hash != "long-enough" and verify_password(user.password_hash, "long-enough")
    assert user.created_at == NOW and user.active and user.failed_logins == 0


@pytest.mark.parametrize(("username", "password", "roles", "field"), [
    ("Wang", "long-enough", ["admin"], "username"),
    ("w", "long-enough", ["admin"], "username"),
    ("wang wei", "long-enough", ["admin"], "username"),
    ("a" * 65, "long-enough", ["admin"], "username"),
    ("wang", "short", ["admin"], "password"),
    ("wang", "long-enough", [], "roles"),
    ("wang", "long-enough", ["janitor"], "roles"),
])
def test_create_user_rejects_bad_input_naming_the_field(
        session: Session, username: str, password: str, roles: list[str], field: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_user(session, username, password, roles)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_create_user_refuses_a_duplicate(session: Session) -> None:
    create_user(session, "wang", "long-enough", ["admin"])
    with pytest.raises(UserInputError, match="already exists"):
        create_user(session, "wang", "long-enough", ["admin"])


def test_authenticate_returns_the_user_on_the_right_password(session: Session) -> None:
    create_user(session, "li", "long-enough", ["cleaner"])
    user = authenticate(session, "li", "long-enough", NOW)
    assert user is not None and user.username == "li"
    assert authenticate(session, "li", "wrong-password", NOW) is None
    assert authenticate(session, "nobody", "long-enough", NOW) is None


def test_five_failures_lock_for_fifteen_minutes(session: Session) -> None:
    create_user(session, "li", "long-enough", ["cleaner"])
    for attempt in range(1, 5):
        assert authenticate(session, "li", "wrong", NOW) is None
        assert get_user(session, "li").failed_logins == attempt  # type: ignore[union-attr]
    assert authenticate(session, "li", "wrong", NOW) is None
    user = get_user(session, "li")
    assert user is not None and user.locked_until == NOW + LOCK_DURATION
    assert authenticate(session, "li", "long-enough", NOW + timedelta(minutes=14)) is None
    assert authenticate(session, "li", "long-enough", NOW + timedelta(minutes=15, seconds=1)) is not None
    assert user.locked_until is None and user.failed_logins == 0


def test_a_success_resets_the_failure_count(session: Session) -> None:
    create_user(session, "li", "long-enough", ["cleaner"])
    for _ in range(4):
        authenticate(session, "li", "wrong", NOW)
    assert authenticate(session, "li", "long-enough", NOW) is not None
    for _ in range(4):
        authenticate(session, "li", "wrong", NOW)
    assert authenticate(session, "li", "long-enough", NOW) is not None


def test_inactive_users_cannot_sign_in(session: Session) -> None:
    create_user(session, "li", "long-enough", ["cleaner"]).active = False
    assert authenticate(session, "li", "long-enough", NOW) is None


def test_sign_in_upgrades_an_old_hash(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    user = create_user(session, "li", "long-enough", ["cleaner"])
    monkeypatch.setattr(passwords, "SCRYPT", ScryptParams(n=2**5, r=8, p=1))
    authenticate(session, "li", "long-enough", NOW)
    assert user.password_hash.startswith("scrypt$32$")


def test_set_password_lifts_the_lock_and_set_roles_replaces_roles(session: Session) -> None:
    user = create_user(session, "li", "long-enough", ["cleaner"])
    user.locked_until = NOW + LOCK_DURATION
    set_password(user, "another-password")
    assert user.locked_until is None and verify_password(user.password_hash, "another-password")
    with pytest.raises(UserInputError):
        set_password(user, "short")
    set_roles(user, ["cleaning_foreman", "cleaner"])
    session.flush()
    assert user.role_ids == {"cleaning_foreman", "cleaner"}


def test_users_with_role_lists_active_holders(session: Session) -> None:
    create_user(session, "bb", "long-enough", ["technician"])
    create_user(session, "aa", "long-enough", ["technician", "cleaner"])
    create_user(session, "cc", "long-enough", ["technician"]).active = False
    create_user(session, "dd", "long-enough", ["cleaner"])
    session.flush()
    assert [u.username for u in users_with_role(session, "technician")] == ["aa", "bb"]


def test_demo_users_cover_every_role_and_are_idempotent(session: Session) -> None:
    accounts = ensure_demo_users(session, now=NOW)
    session.commit()
    assert ensure_demo_users(session, now=NOW) == accounts
    session.commit()
    by_name = {name: (password, roles) for name, password, roles in accounts}
    assert set(ROLES) <= set(by_name)
    for extra in ("cs_assistant2", "security_guard2", "technician2", "cs_foreman2"):
        assert extra in by_name
    for name, (password, roles) in by_name.items():
        user = authenticate(session, name, password, NOW)
        assert user is not None and user.role_ids == set(roles)
    assert len(users_with_role(session, "cs_assistant")) == 2
    assert get_user(session, "cs_foreman").display_name == "客服部领班"  # type: ignore[union-attr]


def test_demo_users_leave_changed_passwords_alone(session: Session) -> None:
    ensure_demo_users(session, now=NOW)
    user = get_user(session, "admin")
    assert user is not None
    set_password(user, "the-real-admin-password")
    ensure_demo_users(session, now=NOW)
    assert verify_password(user.password_hash, "the-real-admin-password")


def test_passwords_are_hashed_outside_any_database_transaction(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    create_user(session, "li", "long-enough", ["cleaner"])
    create_user(session, "wu", "long-enough", ["cleaner"]).active = False
    session.commit()
    in_transaction: list[bool] = []
    real = hashlib.scrypt

    def observed(password: bytes, **kwargs: Any) -> bytes:
        in_transaction.append(session.in_transaction())
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", observed)
    monkeypatch.setattr(passwords, "SCRYPT", ScryptParams(n=2**5, r=8, p=1))  # the success rehashes too
    assert authenticate(session, "li", "wrong-password", NOW) is None
    assert authenticate(session, "nobody", "long-enough", NOW) is None
    assert authenticate(session, "wu", "long-enough", NOW) is None
    assert authenticate(session, "li", "long-enough", NOW) is not None
    session.commit()
    assert len(in_transaction) >= 5 and not any(in_transaction), in_transaction
    assert get_user(session, "li").password_hash.startswith("scrypt$32$")  # type: ignore[union-attr]
