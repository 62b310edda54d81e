"""Who can be told what: a token the database changes with every change to it, and audiences kept by it.

An outbox audience is read from users, their roles, their preferences and the channels. Those change
rarely, but the read ran at nearly every step of every process. Each database connection now keeps the
audiences read on it with the token they were read at, and a notification from a kept audience is
written only while the token is still that one (checked by the insert itself: the same statement, the
same snapshot; else the audience is read again). Triggers on those four tables change the token, whoever
changes them (any process, tool or hand-written SQL), to a random value: once a change is rolled back its
token is never seen again, so a kept audience can only ever match the data it was read from.

A user's roles are kept the same way (`user_roles_kept`), checked against the token the unit's locking
read returned (engine/store/locking.py): read inside the unit's transaction, after its lock, that token
is current (PostgreSQL reads committed data per statement; SQLite holds the write lock from BEGIN).

A revision that rebuilds one of these tables on SQLite (Alembic's batch mode copies and drops it) drops
its triggers too and must create them again; tests/notify/test_audience_cache.py checks they are there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, event

from engine.notify.models import AudienceVersion

VERSION: Table = AudienceVersion.__table__  # type: ignore[assignment]

# The tables an audience is read from, and the changes to each that can change one.
WATCHED = {
    "users": "INSERT OR DELETE OR UPDATE OF username, active",  # not sign-ins, lock-outs, passwords
    "user_roles": "INSERT OR DELETE OR UPDATE",
    "notification_preferences": "INSERT OR DELETE OR UPDATE",
    "notification_channels": "INSERT OR DELETE OR UPDATE",
}
_SQLITE_TOKEN = "lower(hex(randomblob(16)))"
_PG_TOKEN = "replace(gen_random_uuid()::text, '-', '')"


def install_sql(dialect: str) -> list[str]:
    """Return the statements creating the token's row and the triggers that change it (`dialect`'s SQL)."""
    if dialect == "sqlite":
        new = _SQLITE_TOKEN
        # SQLite triggers fire per row and per event: one trigger for each table and kind of change.
        triggers = [f"CREATE TRIGGER IF NOT EXISTS {table}_audience_{change.split()[0].lower()} "
                    f"AFTER {change} ON {table} "
                    f"BEGIN UPDATE notification_audience_version SET token = {new}; END"
                    for table, changes in WATCHED.items() for change in changes.split(" OR ")]
    else:
        new = _PG_TOKEN
        # Once per statement; the function finds the table in the schema it was created in.
        triggers = [
            "CREATE OR REPLACE FUNCTION notification_audience_changed() RETURNS trigger LANGUAGE plpgsql "
            "SET search_path FROM CURRENT AS $$ BEGIN "
            f"UPDATE notification_audience_version SET token = {new}; RETURN NULL; END $$",
            *(statement for table, changes in WATCHED.items() for statement in (
                f"DROP TRIGGER IF EXISTS notification_audience_changed ON {table}",
                f"CREATE TRIGGER notification_audience_changed AFTER {changes} OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION notification_audience_changed()"))]
    row = (f"INSERT INTO notification_audience_version (id, token) SELECT 1, {new} "
           "WHERE NOT EXISTS (SELECT 1 FROM notification_audience_version)")
    return [row, *triggers]


@event.listens_for(VERSION.metadata, "after_create")
def _install(target: Any, connection: Connection, tables: list[Table] | None = None, **_kw: Any) -> None:
    # create_all (tests, tools) makes the same triggers as the migration that added the table, again for
    # a watched table made anew (the statements change nothing that is already there).
    if tables is None or any(t is VERSION or t.name in WATCHED for t in tables):
        for statement in install_sql(connection.dialect.name):
            connection.exec_driver_sql(statement)


class AudienceCache:
    """Audiences read on one database connection, kept while the token they were read at is the database's."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._token: str | None = None
        self._found: dict[Any, Any] = {}

    def get(self, key: Any) -> tuple[str, Any] | None:
        """Return (token, audience) read for `key`, if any; whether it still holds, the insert checks."""
        found = self._found.get(key)
        return None if self._token is None or found is None else (self._token, found)

    def at(self, key: Any, token: str) -> Any:
        """Return what was kept for `key` if it was read at `token` (known to be current), else MISSING."""
        return self._found.get(key, MISSING) if token == self._token else MISSING

    def put(self, key: Any, token: str | None, audience: Any) -> None:
        """Keep an audience read at `token`, forgetting those read at another one."""
        if token != self._token or len(self._found) >= self._size:
            self._token, self._found = token, {}
        if token is not None:  # a database without the token's row: nothing can be checked, nothing kept
            self._found[key] = audience

    def forget(self) -> None:
        """Forget every kept audience (the token they were read at is known to be stale)."""
        self._token, self._found = None, {}


MISSING = object()  # AudienceCache.at: nothing kept at that token (None is a kept answer: no such user)


def audiences(connection: Connection) -> AudienceCache:
    """Return the audience cache of a connection's database connection (one thread uses it at a time)."""
    return _kept(connection, _KEY)


def user_roles_kept(connection: Connection) -> AudienceCache:
    """Return the users' held roles kept on a connection's database connection, by username."""
    # The same token covers users and user_roles: roles kept at the token a unit's lock read are current.
    return _kept(connection, _ROLES_KEY)


def _kept(connection: Connection, key: str) -> AudienceCache:
    # Per DB-API connection, not per process: it is never shared between threads, and a process that
    # talks to several databases (the tests) never checks one's audience against another's token.
    info = connection.connection.info
    found: AudienceCache | None = info.get(key)
    if found is None:
        found = info[key] = AudienceCache()
    return found


_KEY = "bpm_notify_audiences"
_ROLES_KEY = "bpm_user_roles"
