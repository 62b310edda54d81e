"""The transactional outbox: a unit's notifications and their deliveries, written before it commits.

On PostgreSQL a unit's notifications are derived as the façade sends its rows and, when their audience is
kept (engine/notify/directory.py), go out in the same pipeline: no round trip of their own. The insert
still checks the audience token in the same statement; in the rare case it changed, the notification is
written again from a fresh read before the unit commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Connection,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, SessionTransaction

from engine import domain
from engine.calendar import DEFAULT_ZONE
from engine.notify import prefs
from engine.notify.directory import VERSION, audiences
from engine.notify.events import Event, changed_history, derive
from engine.notify.models import Channel, Delivery, Notification, Preference
from engine.store.db import is_postgresql
from engine.store.models import User, UserRole
from engine.store.pending import add_rows, add_send, add_written, before_sending, forget_written, rows_of
from engine.store.prepared import prepared
from engine.store.unit_rows import flush_pending
from engine.store.wakeup import announce_wakeup

NOTIFICATIONS: Table = Notification.__table__  # type: ignore[assignment]
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]

# session.info key set by the worker on its own units: it delivers right after them, no wake-up needed.
DELIVERED_BY_CALLER = "bpm_notify_delivered_by_caller"
_TOLD = "bpm_notify_told"  # how many of the transaction's told history rows were turned into notifications

Writer = Callable[[Session, Event, ZoneInfo], bool]  # writes (or queues) one notification: did anyone get it?


def record(session: Session, events: Iterable[Event] | None = None, zone: ZoneInfo = DEFAULT_ZONE) -> int:
    """Write the unit's notifications (derived from its history unless given); return how many."""
    return _record(session, events, zone, lambda s, ev, z: write(s, ev, zone=z) is not None)


@before_sending
def _record_with_the_rows(session: Session) -> None:
    # PostgreSQL: derived as the façade sends the unit's rows, to go in their pipeline; the commit's
    # record() then finds nothing new. SQLite has no round trips to save: written at commit, as before.
    if is_postgresql(session.get_bind()):
        _record(session, None, DEFAULT_ZONE, _with_the_rows)


def _record(session: Session, events: Iterable[Event] | None, zone: ZoneInfo, writer: Writer) -> int:
    """Write (or queue) notifications for the given events, else for the history rows not told yet."""
    if events is None:
        rows = changed_history(session)
        told = session.info.get(_TOLD, 0)
        session.info[_TOLD] = len(rows)  # the list only grows within a transaction
        if len(rows) <= told:
            return 0  # most units of work change nothing anyone is told about: no query at all
        events = derive(session, rows[told:])
    written = 0
    for ev in events:
        if writer(session, ev, zone):
            written += 1
    if written:
        _announce_if_pending(session)
    return written


def _announce_if_pending(session: Session) -> None:
    """Wake the worker after the commit when a delivery waits for it; in-app rows need no worker."""
    if not session.info.get(DELIVERED_BY_CALLER) and any(
            row["status"] == "pending" for row in rows_of(session, DELIVERIES)):
        announce_wakeup(session)


@event.listens_for(Session, "after_transaction_end")
def _told_nothing_yet(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # a savepoint's end keeps the unit's rows, and what they told
        session.info.pop(_TOLD, None)


def audience(session: Session, ev: Event) -> tuple[list[str], dict[str, Preference], list[Channel]]:
    """Return an event's users (named ones, then role holders), their preferences and the active channels."""
    flush_pending(session, User, UserRole, Preference, Channel)
    named, acting = _asked(ev)
    _token, found = _read(session.connection(), named, acting)
    return _users(ev, named, acting, found), found.stored, found.channels


@dataclass(frozen=True)
class Found:
    """What one read of an audience found: people (username, role, active), their preferences, channels."""

    people: list[Any]
    stored: dict[str, Preference]
    channels: list[Channel]


def _asked(ev: Event) -> tuple[tuple[str, ...], dict[str, frozenset[str]]]:
    """Return the users an event names and, for each of its roles, the roles whose holders act in it."""
    return tuple(u for u in ev.users if u), {role: domain.current().acting_as(role) for role in ev.roles}


def _read(connection: Connection, named: tuple[str, ...],
          acting: dict[str, frozenset[str]]) -> tuple[str | None, Found]:
    """Return the audience token and what it stands for: role holders, named users, preferences, channels."""
    wanted = sorted(set().union(*acting.values()))
    # One statement for holders, preferences, channels and token alike (on PostgreSQL each statement is a
    # round trip, and all must come from one snapshot).
    found = connection.execute(AUDIENCE[is_postgresql(connection)],
                               {"roles": wanted, "names": list(named)}).all()
    people = [row for row in found if row.row_kind == "user"]
    channels = sorted((Channel(**{k: getattr(row, f"ch_{k}") for k in CHANNEL_COLUMNS})
                       for row in found if row.row_kind == "channel"), key=lambda c: c.id)
    stored = {row.username: Preference(**{k: getattr(row, f"pref_{k}") for k in PREFERENCE_COLUMNS})
              for row in people if row.pref_username is not None}
    token = next((row.token for row in found if row.row_kind == "version"), None)
    return token, Found(people, stored, channels)


def _users(ev: Event, named: tuple[str, ...], acting: dict[str, frozenset[str]], found: Found) -> list[str]:
    """Return who is told of an event: the named users, then each role's active holders, each once."""
    names = list(named)
    for role in ev.roles:
        holders = {row.username for row in found.people if row.active and row.role in acting[role]}
        names.extend(sorted(holders))
    return [u for u in dict.fromkeys(names) if u not in ev.exclude]


def _one_of(column: Any, name: str, on_pg: bool) -> Any:
    """Return "column is in the list bound as `name`", the list one parameter however long it is."""
    # An expanding IN would render the statement anew at every execution (a cost on the hot path) and
    # give each length of list its own SQL; an array (PostgreSQL) or a JSON text (SQLite) does neither.
    if on_pg:
        # An array of unbounded text: a cast to the column's length would cut a longer name to match.
        return column == any_(bindparam(name, type_=ARRAY(String())))
    listed = func.json_each(bindparam(name, type_=JSON))
    members: Select[Any] = select(literal_column("value")).select_from(listed)
    return column.in_(members.scalar_subquery())


def _audience(on_pg: bool) -> Any:
    """Build the statement reading role holders and named users with their preferences, channels, token."""
    prefs_table = Preference.__table__
    blank_token = cast(null(), VERSION.c.token.type).label("token")
    # Each part pads the others' columns with NULLs of their type, so all decode alike.
    holders = (select(literal("user").label("row_kind"), User.username, UserRole.role, User.active,
                      *(prefs_table.c[k].label(f"pref_{k}") for k in PREFERENCE_COLUMNS),
                      *(cast(null(), CHANNELS.c[k].type).label(f"ch_{k}") for k in CHANNEL_COLUMNS),
                      blank_token)
               .select_from(User)
               .outerjoin(UserRole, and_(UserRole.user_id == User.id,
                                         _one_of(UserRole.role, "roles", on_pg)))
               .outerjoin(Preference, Preference.username == User.username)
               .where(or_(UserRole.role.is_not(None),
                          _one_of(User.username, "names", on_pg))))
    no_user = (*(cast(null(), c.type) for c in (User.username, UserRole.role, User.active)),
               *(cast(null(), prefs_table.c[k].type) for k in PREFERENCE_COLUMNS))
    channels = (select(literal("channel"), *no_user, *(CHANNELS.c[k] for k in CHANNEL_COLUMNS), blank_token)
                .where(CHANNELS.c.active.is_(True)))
    no_channel = (cast(null(), CHANNELS.c[k].type) for k in CHANNEL_COLUMNS)
    token = select(literal("version"), *no_user, *no_channel, VERSION.c.token)
    return union_all(holders, channels, token)


CHANNELS: Table = Channel.__table__  # type: ignore[assignment]
PREFERENCE_COLUMNS = tuple(c.key for c in Preference.__table__.columns)
CHANNEL_COLUMNS = tuple(c.key for c in CHANNELS.columns)
# By "on PostgreSQL?"; with no names and no roles, it reads the channels and the token alone.
AUDIENCE = {on_pg: _audience(on_pg) for on_pg in (False, True)}


def _channel_wants(channel: Channel, ev: Event, users: list[str]) -> bool:
    if not channel.roles and not channel.users:
        return True
    roles = {*ev.roles, *([ev.role] if ev.role else [])}
    return bool(roles & set(channel.roles or [])) or bool(set(users) & set(channel.users or []))


def write(session: Session, ev: Event, channels: list[Channel] | None = None, zone: ZoneInfo = DEFAULT_ZONE,
          *, only: bool = False) -> int | None:
    """Write one notification and a delivery per channel it goes to; return its id, None when nobody gets it.

    Without `channels`, the active ones (read with the audience); with `only`, the given channels receive
    it whatever they subscribe to (a test message). An audience read before on this database connection
    is used again while the audience token is the one it was read at (engine/notify/directory.py).
    """
    if ev.dedupe_key is not None and session.scalar(
            select(Notification.id).where(Notification.dedupe_key == ev.dedupe_key)) is not None:
        return None
    deliveries, token = _lookup(session, ev, channels, zone, only)
    if deliveries is None:
        return None
    connection = session.connection()
    # From a kept audience, written only if the token is still the one it was read at: no read at all then.
    note_id = _insert(session, connection, ev, deliveries, token)
    if note_id is None and token is not None:
        # The kept audience changed since it was read: read it again, written as it is then.
        deliveries, _read_now = _lookup(session, ev, channels, zone, only, kept=False)
        note_id = None if deliveries is None else _insert(session, connection, ev, deliveries, None)
    return note_id


def _with_the_rows(session: Session, ev: Event, zone: ZoneInfo) -> bool:
    """Queue a PostgreSQL notification to go out with the unit's rows; did anyone get it?

    As `write`, but the insert waits for the pipeline of the unit's rows: every notification of the unit
    is queued, in the order of its history (an audience that is not kept is read now).
    """
    if ev.dedupe_key is not None:  # (none come from history: the deadline scan writes those itself)
        return write(session, ev, zone=zone) is not None
    deliveries, token = _lookup(session, ev, None, zone, False)
    if deliveries is None:
        return False
    # Prepared once per dialect: a Core execute of this statement built its cache key, execution context
    # and result for every notification (2-3 % of an instance).
    target = prepared(session.get_bind().dialect, ("notification with deliveries",),
                      lambda: (NOTIFICATION_WITH_DELIVERIES, None)) or NOTIFICATION_WITH_DELIVERIES
    add_send(session, target, [_with_arrays(_note(ev), deliveries, token)],
             partial(_made_or_again, session, ev, zone, deliveries))
    # Their notification's id and keys are given in SQL; the outbox reads only their status.
    add_written(session, DELIVERIES, deliveries)
    return True


def _lookup(session: Session, ev: Event, channels: list[Channel] | None, zone: ZoneInfo, only: bool,
            *, kept: bool = True) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Return an event's delivery rows (None: nobody gets it) and the audience token they hold at.

    The token is that of a kept audience, for the insert to check; None when the audience was read just
    now (in this transaction: written as it is). With `kept` false the audience is read in any case.
    """
    flush_pending(session, User, UserRole, Preference, Channel)  # their triggers change the token
    named, acting = _asked(ev)
    key = _key(named, acting)
    # Core on the unit's connection: no ORM, no autoflush (the unit's rows are written by now).
    connection = session.connection()
    cache = audiences(connection)
    held = cache.get(key) if kept else None
    if held is not None:
        kept_at, found = held
        deliveries = _deliveries(ev, _users(ev, named, acting, found), found, channels, zone, only)
        if deliveries is not None:
            return deliveries, kept_at
        # Nobody would be told: that is worth a look at the database.
    token, found = _read(connection, named, acting)
    cache.put(key, token, found)
    return _deliveries(ev, _users(ev, named, acting, found), found, channels, zone, only), None


def _made_or_again(session: Session, ev: Event, zone: ZoneInfo, deliveries: list[dict[str, Any]],
                   made: int) -> None:
    """Once the queued insert ran: if it found the audience token changed, write the notification now."""
    if made:
        return
    # Someone changed users, roles, preferences or channels since the audience was kept (or this unit did):
    # read it again, before the unit commits.
    forget_written(session, DELIVERIES, deliveries)
    audiences(session.connection()).forget()
    if write(session, ev, zone=zone) is not None:
        _announce_if_pending(session)


def _key(named: tuple[str, ...], acting: dict[str, frozenset[str]]) -> Any:
    """Return the key an audience is kept under: the roles whose holders act, and the named users."""
    return frozenset().union(*acting.values()), named


def _deliveries(ev: Event, users: list[str], found: Found, channels: list[Channel] | None, zone: ZoneInfo,
                only: bool) -> list[dict[str, Any]] | None:
    """Return the delivery rows of an event for these users and channels; None when nobody gets it."""
    offered = found.channels if channels is None else channels
    hooks = list(offered) if only else [c for c in offered if _channel_wants(c, ev, users)]
    if not users and not hooks:
        return None
    deliveries = []
    for user in users:
        pref = found.stored.get(user)
        if ev.kind not in prefs.muted(pref, "app"):
            deliveries.append(_delivery(f"app:{user}", status="sent", at=ev.at))
        mailed = pref is not None and pref.email and pref.email_enabled
        if mailed and pref is not None and ev.kind not in prefs.muted(pref, "email"):
            quiet = None if ev.urgent else prefs.quiet_until(pref, ev.at, zone)
            deliveries.append(_delivery(f"email:{user}", address=pref.email, at=quiet or ev.at))
    for hook in hooks:
        deliveries.append(_delivery(f"webhook:{hook.id}", address=hook.url, at=ev.at))
    return deliveries


def _insert(session: Session, connection: Connection, ev: Event, deliveries: list[dict[str, Any]],
            token: str | None) -> int | None:
    """Insert the notification and its deliveries; return its id, None when `token` is no longer current."""
    note = _note(ev)
    # Core: the id names the deliveries' idempotency keys, and an ORM flush of one row cost more.
    if is_postgresql(connection):
        values = _with_arrays(note, deliveries, token)
        found = connection.execute(NOTIFICATION_WITH_DELIVERIES, values).scalar()
        if found is None:
            return None
        note_id = int(found)
        _keyed(deliveries, note_id)
        add_written(session, DELIVERIES, deliveries)
        return note_id
    # Prepared once per dialect (engine.store.prepared): a Core execute of this INSERT … RETURNING built its
    # cache key and processed its sixteen binds anew for every notification.
    target = prepared(connection.dialect, ("insert", NOTIFICATIONS, "id and token"),
                      lambda: (NEW_NOTIFICATION, NOTE_COLUMNS))
    note_id, current = connection.execute(NEW_NOTIFICATION, note).one() if target is None \
        else target.returned(connection, note)
    if token is not None and current != token:
        # A plain insert answering with the token costs less than a conditional one; seldom, it is taken
        # back (the transaction holds SQLite's write lock: the next insert gets the same id again).
        connection.execute(DROP_NOTIFICATION, {"note_id": note_id})
        return None
    _keyed(deliveries, note_id)
    add_rows(session, DELIVERIES, deliveries)  # queued for the unit's one insert of deliveries at commit
    return note_id


def _note(ev: Event) -> dict[str, Any]:
    """Return a notification's column values for an event."""
    return dict(
        dedupe_key=ev.dedupe_key, event=ev.kind, urgent=ev.urgent, instance_id=ev.instance_id,
        task_id=ev.task_id, element_id=ev.element_id, role=ev.role, assignee=ev.assignee, actor=ev.actor,
        title_zh=ev.title_zh[:300], title_en=ev.title_en[:300], message_zh=ev.message_zh,
        message_en=ev.message_en, due_at=ev.due_at, created_at=ev.at, path=_path(ev))


def _with_arrays(note: dict[str, Any], deliveries: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """Return PostgreSQL's parameters for a notification and its deliveries, written if `token` is current."""
    # Each statement is a round trip there: the deliveries ride along as arrays, keyed in SQL, and the token
    # is checked by the same statement (None: the audience was just read, written as it is).
    note.update({f"d_{k}": [row[k] for row in deliveries] for k in DELIVERY_ARRAYS}, token=token)
    return note


def _keyed(deliveries: list[dict[str, Any]], note_id: int) -> None:
    """Give the deliveries their notification's id and their idempotency keys."""
    for row in deliveries:
        row["notification_id"], row["idempotency_key"] = note_id, f"{note_id}:{row['channel']}"


CURRENT_TOKEN = select(VERSION.c.token).scalar_subquery()
NEW_NOTIFICATION = insert(NOTIFICATIONS).returning(NOTIFICATIONS.c.id, CURRENT_TOKEN)
DROP_NOTIFICATION = delete(NOTIFICATIONS).where(NOTIFICATIONS.c.id == bindparam("note_id"))
NOTE_COLUMNS = tuple(c.key for c in NOTIFICATIONS.c if c.key != "id")  # what _note gives
DELIVERY_ARRAYS = ("channel", "address", "status", "next_attempt_at", "sent_at")


def _conditional_note() -> Any:
    """Build the SELECT of a new notification's values, none unless the audience token is the one bound."""
    token = bindparam("token", type_=VERSION.c.token.type)
    # Without a token (its audience was just read by the statement before) it is written as it is.
    current = or_(token.is_(None), token == CURRENT_TOKEN)
    return select(*(bindparam(k, type_=NOTIFICATIONS.c[k].type) for k in NOTE_COLUMNS)).where(current)


def _with_deliveries() -> Any:
    """Build the PostgreSQL statement inserting a notification and, from its new id, its deliveries."""
    note = insert(NOTIFICATIONS).from_select(NOTE_COLUMNS, _conditional_note()) \
        .returning(NOTIFICATIONS.c.id).cte("note")
    given = func.unnest(*(bindparam(f"d_{k}", type_=ARRAY(DELIVERIES.c[k].type)) for k in DELIVERY_ARRAYS)) \
        .table_valued(*DELIVERY_ARRAYS).render_derived()
    rows = select(note.c.id, given.c.channel, func.concat(note.c.id, ":", given.c.channel), given.c.address,
                  given.c.status, literal(0), given.c.next_attempt_at, literal(""), given.c.sent_at, null()) \
        .select_from(note).join(given, true())
    deliveries = insert(DELIVERIES).from_select(
        ["notification_id", "channel", "idempotency_key", "address", "status", "attempts", "next_attempt_at",
         "last_error", "sent_at", "read_at"], rows).cte("deliveries")
    return select(note.c.id).add_cte(deliveries)


NOTIFICATION_WITH_DELIVERIES = _with_deliveries()


def _path(ev: Event) -> str:
    """Return the page a notification opens: its task, else its case."""
    if ev.task_id:
        return f"/tasks/{ev.task_id}"
    return f"/records/{ev.instance_id}" if ev.instance_id else ""


def _delivery(channel: str, *, at: datetime, status: str = "pending", address: str = "") -> dict[str, Any]:
    """Return a delivery row, its notification id and idempotency key still to come."""
    # In-app rows are delivered by being written; the others wait for the worker from `at`.
    return dict(notification_id=None, channel=channel, idempotency_key=None, address=address, status=status,
                attempts=0, next_attempt_at=None if status == "sent" else at, last_error="",
                sent_at=at if status == "sent" else None, read_at=None)
