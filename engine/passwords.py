"""Password hashes: scrypt with its cost parameters stored in each hash, verified in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass


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


def dummy_verify(password: str) -> None:
    """Spend the time of one verification on a hash nobody's password matches."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None or needs_rehash(_DUMMY_HASH):
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(_DUMMY_HASH, password)
