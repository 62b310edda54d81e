"""The timer worker: claim instances whose next wake-up is due and fire them, one unit of work each.

Guarantees (SPEC §2, ARCHITECTURE "Timers"):
- Each firing is one transaction: lock the instance, fire, record history, recompute
  `next_wakeup_at`, commit. A worker killed mid-step leaves the instance as it was, still due.
- PostgreSQL: the claim is `SELECT … FOR UPDATE SKIP LOCKED`, and `Engine.fire_timers` re-reads the
  row under that lock and refuses when it is no longer due, so any number of workers never fire a
  timer twice and never lose one. SQLite: `BEGIN IMMEDIATE` serialises whole units of work.
- No busy polling: the worker sleeps until the earliest `next_wakeup_at`, woken early by an
  instance whose wake-up moved earlier (PostgreSQL `LISTEN bpm_wakeup`, sent by `Engine._save`,
  and in-process by `wake_local()` after such a commit). Each sleep is capped at `MAX_SLEEP`
  seconds as a safety net against a lost notification (e.g. the listening connection dropped).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from engine.notify import delivery
from engine.notify.outbox import DELIVERED_BY_CALLER
from engine.runtime import Engine
from engine.store.db import is_postgresql
from engine.store.models import ProcessInstance
from engine.store.unit_of_work import run_unit

log = logging.getLogger(__name__)

WAKEUP_CHANNEL = "bpm_wakeup"
WAKEUP_FLAG = "bpm_wakeup"  # session.info key set by Engine._save when a wake-up moved earlier
MAX_SLEEP = 30.0  # seconds; safety net only, notifications normally wake the worker first
LISTEN_SLICE = 5.0  # seconds the listener blocks on the socket before re-checking for stop
BUSY_RETRY = 0.05  # seconds before looking again at a due instance another worker holds
RETRY_FIRST = 5.0  # seconds before an instance that raised unexpectedly is tried again
RETRY_MAX = 600.0  # …doubling up to this

SessionFactory = Callable[[], Session]

# Every running Worker's wake event; wake_local() sets them all (several workers per process in tests).
_wake_events: weakref.WeakSet[threading.Event] = weakref.WeakSet()
_wake_lock = threading.Lock()
WAKE = threading.Event()  # module-level event, also set by wake_local(), for callers who wait themselves


def wake_local() -> None:
    """Wake every worker of this process: an instance's next wake-up moved earlier."""
    WAKE.set()
    with _wake_lock:
        events = list(_wake_events)
    for ev in events:
        ev.set()


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    """Wake local workers once the commit that moved a wake-up earlier is durable."""
    if session.in_nested_transaction():
        return  # a savepoint released (after_commit fires for those too): not durable yet
    if session.info.pop(WAKEUP_FLAG, False):
        wake_local()


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: Any) -> None:
    """Drop the flag when the outer transaction is rolled back (a savepoint rollback keeps it)."""
    if not previous_transaction.nested:
        session.info.pop(WAKEUP_FLAG, None)


@dataclass
class PassResult:
    """What one pass over the due instances did."""

    fired: int = 0  # units of work committed, including those that put the instance in error
    failed: list[int] = field(default_factory=list)  # instances now in error (ProcessFailure)
    crashed: list[int] = field(default_factory=list)  # rolled back on an unexpected exception
    stuck: list[int] = field(default_factory=list)  # fired but still due: left for the next pass


def _claim_next(session: Session, now: datetime, exclude: Collection[int]) -> int | None:
    """Lock and return the most overdue running instance nobody else holds, or None."""
    query = (select(ProcessInstance.id)
             .where(ProcessInstance.status == "running", ProcessInstance.next_wakeup_at <= now)
             .order_by(ProcessInstance.next_wakeup_at).limit(1)
             # SKIP LOCKED: workers claim different instances instead of queueing on one row.
             # SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE already holds the database lock.
             .with_for_update(skip_locked=True))
    if exclude:
        query = query.where(ProcessInstance.id.not_in(list(exclude)))
    return session.scalar(query)


def fire_pass(session_factory: SessionFactory, engine: Engine, now: datetime | None = None,
              limit: int | None = None, exclude: Collection[int] = (),
              stop: threading.Event | None = None) -> PassResult:
    """Fire due instances one transaction each until none is due; report what happened."""
    result = PassResult()
    skip = set(exclude)  # grows only with failing or stuck instances, so the NOT IN list stays short
    while limit is None or result.fired < limit:
        if stop is not None and stop.is_set():
            break
        firing = _Firing((now or engine.clock()).astimezone(UTC))
        with session_factory() as session:
            session.info[DELIVERED_BY_CALLER] = True  # the worker delivers right after this pass
            try:
                unit = run_unit(session, partial(_fire_next, session, engine, skip, firing))
            except Exception:
                if firing.instance_id is None:
                    # The claim query itself failed (database gone): end the pass, the caller retries.
                    log.exception("cannot look for due timers")
                    break
                log.exception("firing timers of instance %s failed; skipped for this pass",
                              firing.instance_id)
                result.crashed.append(firing.instance_id)
                skip.add(firing.instance_id)
                continue
        if firing.instance_id is None:
            break
        if unit.failure is not None:
            # The engine put the instance in error and recorded why (committed): go on.
            log.warning("instance %s failed while firing timers: %s", firing.instance_id,
                        unit.failure.message)
            result.fired += 1
            result.failed.append(firing.instance_id)
            continue
        result.fired += int(firing.fired)
        if firing.still_due:
            # E.g. a cycle timer with several missed occurrences: one per unit of work, and
            # never spin on one instance within a pass.
            result.stuck.append(firing.instance_id)
            skip.add(firing.instance_id)
    return result


@dataclass
class _Firing:
    """One unit of work of a pass: its moment, the instance claimed, whether it fired and is due again."""

    moment: datetime
    instance_id: int | None = None
    fired: bool = False
    still_due: bool = False


def _fire_next(session: Session, engine: Engine, skip: Collection[int], firing: _Firing) -> None:
    """Claim the next due instance and fire its timers, noting in `firing` what happened so far."""
    firing.instance_id = _claim_next(session, firing.moment, skip)
    if firing.instance_id is None:
        return
    firing.fired = engine.fire_timers(session, firing.instance_id, firing.moment)
    inst = session.get(ProcessInstance, firing.instance_id)
    firing.still_due = (inst is not None and inst.status == "running"
                        and inst.next_wakeup_at is not None and inst.next_wakeup_at <= firing.moment)


def fire_due(session_factory: SessionFactory, engine: Engine, now: datetime | None = None,
             limit: int | None = None) -> int:
    """Fire every timer due at `now` (default: the engine's clock); return how many instances fired."""
    return fire_pass(session_factory, engine, now, limit).fired


def next_due(session: Session, exclude: Collection[int] = ()) -> datetime | None:
    """Return the earliest wake-up of any running instance, or None when nothing waits."""
    query = (select(ProcessInstance.next_wakeup_at)
             .where(ProcessInstance.status == "running", ProcessInstance.next_wakeup_at.is_not(None))
             .order_by(ProcessInstance.next_wakeup_at).limit(1))
    if exclude:
        query = query.where(ProcessInstance.id.not_in(list(exclude)))
    return session.scalar(query)


class _Listener:
    """A thread holding `LISTEN bpm_wakeup` on its own connection; each notification wakes the worker."""

    def __init__(self, conninfo: str, stop: threading.Event, schema: str) -> None:
        self.conninfo = conninfo
        self.stop = stop
        self.schema = schema
        self.thread = threading.Thread(target=self._run, name="bpm-wakeup-listener", daemon=True)

    def start(self) -> None:
        """Start listening in the background."""
        self.thread.start()

    def _run(self) -> None:
        import psycopg

        backoff = 1.0
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {WAKEUP_CHANNEL}")
                    backoff = 1.0
                    # Anything committed while we were not listening is caught by this wake-up.
                    wake_local()
                    while not self.stop.is_set():
                        # Blocks on the socket (no polling); the timeout only lets us notice `stop`.
                        for note in conn.notifies(timeout=LISTEN_SLICE, stop_after=1):
                            if is_for_schema(note.payload, self.schema):
                                wake_local()
            except Exception as exc:  # the database restarted or the network dropped: reconnect
                log.warning("wake-up listener lost its connection (%s); reconnecting in %.0f s", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, MAX_SLEEP)


def is_for_schema(payload: str, schema: str) -> bool:
    """Tell whether a wake-up names this deployment's schema (an empty one, from older senders, names all)."""
    return payload in ("", schema)


def current_schema(bind: SqlEngine) -> str:
    """Return the schema the engine's connections write to (their search_path may be set per connection)."""
    with bind.connect() as conn:
        return str(conn.scalar(text("SELECT current_schema()")))


def listen_conninfo(bind: SqlEngine) -> str | None:
    """Return a libpq connection string for LISTEN on PostgreSQL, None for other databases."""
    if not is_postgresql(bind):
        return None
    return bind.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Worker:
    """Fire due timers, then sleep until the next one is due or a notification arrives."""

    def __init__(self, session_factory: SessionFactory, engine: Engine, bind: SqlEngine | None = None,
                 max_sleep: float = MAX_SLEEP, policy: delivery.Policy | None = None) -> None:
        self.session_factory = session_factory
        # Notification delivery rides on the same wake-ups: an outbox write announces one at commit.
        self.policy = policy if policy is not None else delivery.Policy.from_env()
        self.delivered = 0
        self.engine = engine
        self.bind = bind if bind is not None else getattr(session_factory, "kw", {}).get("bind")
        self.max_sleep = max_sleep
        self.fired = 0
        self._wake = threading.Event()
        self._stop: threading.Event | None = None
        self._hold: dict[int, tuple[float, float]] = {}  # instance → (monotonic time to retry, delay)

    def stop(self) -> None:
        """Ask run_forever to return after the unit of work in progress."""
        if self._stop is not None:
            self._stop.set()
        self._wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        """Fire what is due and sleep until the next due time, until `stop` is set."""
        self._stop = stop
        with _wake_lock:
            _wake_events.add(self._wake)
        conninfo = listen_conninfo(self.bind) if self.bind is not None else None
        if conninfo and self.bind is not None:
            _Listener(conninfo, stop, current_schema(self.bind)).start()
        log.info("timer worker started (%s)", "LISTEN bpm_wakeup" if conninfo else "in-process wake-ups")
        try:
            while not stop.is_set():
                # Clear before the pass: a wake-up arriving during the pass must not be lost.
                self._wake.clear()
                self.run_once(stop)
                self.deliver_once(stop)
                if stop.is_set():
                    break
                self._wake.wait(self._sleep_seconds())
        finally:
            with _wake_lock:
                _wake_events.discard(self._wake)
            log.info("timer worker stopped after firing %d", self.fired)

    def run_once(self, stop: threading.Event | None = None) -> PassResult:
        """Run one pass; instances that raised unexpectedly are held back for a doubling delay."""
        result = fire_pass(self.session_factory, self.engine, exclude=self._held(), stop=stop)
        self.fired += result.fired
        clock = time.monotonic()
        for instance_id, (until, _delay) in list(self._hold.items()):
            if until <= clock and instance_id not in result.crashed:
                del self._hold[instance_id]  # tried again and went through (or is no longer due)
        for instance_id in result.crashed:
            delay = min(self._hold[instance_id][1] * 2, RETRY_MAX) if instance_id in self._hold \
                else RETRY_FIRST
            self._hold[instance_id] = (clock + delay, delay)
        for instance_id in result.stuck:
            self._hold.setdefault(instance_id, (clock + 1.0, 1.0))
        return result

    def deliver_once(self, stop: threading.Event | None = None) -> int:
        """Write "deadline near" notifications that fell due, then send every due delivery."""
        try:
            delivery.scan_deadlines(self.session_factory, self.policy)
        except Exception:
            log.exception("cannot scan for near deadlines; trying again at the next wake-up")
        sent = delivery.deliver_due(self.session_factory, self.policy,
                                    stop=(stop.is_set if stop is not None else lambda: False))
        self.delivered += sent
        return sent

    def _held(self) -> set[int]:
        """Return the instances held back from firing right now."""
        clock = time.monotonic()
        return {i for i, (until, _delay) in self._hold.items() if until > clock}

    def _sleep_seconds(self) -> float:
        """Return how long to sleep: until the next due wake-up or held-back retry, capped."""
        clock = time.monotonic()
        waits = [self.max_sleep]
        try:
            with self.session_factory() as session:
                due = next_due(session, self._held())
                notify_due = delivery.next_due(session, self.policy)
                session.rollback()
        except Exception:
            log.exception("cannot read the next due time; retrying in %.0f s", self.max_sleep)
            due = notify_due = None
        if notify_due is not None:
            waits.append(max((notify_due - self.policy.clock()).total_seconds(), BUSY_RETRY))
        if due is not None:
            # Due yet not claimed in the pass: another worker holds it (SKIP LOCKED) or it just fell
            # due. Look again shortly rather than spinning while the other worker commits.
            wait = (due - self.engine.clock()).total_seconds()
            waits.append(wait if wait > 0 else BUSY_RETRY)
        waits.extend(until - clock for until, _delay in self._hold.values() if until > clock)
        return max(min(waits), 0.0) + 0.001  # a hair past the due time, never a zero wait


def run_in_thread(session_factory: SessionFactory, engine: Engine, bind: SqlEngine | None = None
                  ) -> tuple[Worker, threading.Thread, threading.Event]:
    """Start a Worker in a daemon thread (the embedded default beside the web server)."""
    stop = threading.Event()
    worker = Worker(session_factory, engine, bind)
    thread = threading.Thread(target=worker.run_forever, args=(stop,), name="bpm-timer-worker", daemon=True)
    thread.start()
    return worker, thread, stop

