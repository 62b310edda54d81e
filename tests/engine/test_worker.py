"""The timer worker on SQLite: due instances fire once, failures stay contained, escalations land."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import worker as worker_mod
from engine.calendar import BusinessCalendar
from engine.errors import InvalidBpmn
from engine.runtime import Actor, Engine
from engine.store.models import HistoryEvent, ProcessInstance, ProcessVersion, TaskRow
from engine.worker import PassResult, Worker, fire_due, fire_pass, next_due, wake_local
from tests.bpmn_builder import Process
from tests.conftest import T0

M = timedelta(minutes=1)
SH = ZoneInfo("Asia/Shanghai")
Factory = Callable[[], Session]


def deadline_process(key: str = "deadline", *, interrupting: bool = False, date: str | None = None,
                     follow_up: str = "script_ok") -> str:
    """Return arrive (technician) with a deadline timer leading to a follow-up for the dispatcher."""
    p = Process(key)
    p.start()
    p.user("arrive", "technician", [])
    p.timer("late", "arrive", duration=None if date else "PT15M", date=date, interrupting=interrupting)
    if follow_up == "script_fails":
        p.script("boom", "x = 1 / 0")
        p.chain("late", "boom", "follow_up")
    else:
        p.chain("late", "follow_up")
    p.user("follow_up", "engineering_dispatcher", [])
    p.end("end", outcome="closed")
    p.end("fu_end")
    p.chain("start", "arrive", "end")
    p.chain("follow_up", "fu_end")
    return p.xml()


def start(factory: Factory, engine: Engine, actor: Actor, key: str = "deadline", at: datetime = T0) -> int:
    """Start one instance at a given moment and commit."""
    with factory() as s:
        inst = engine.start(s, key, {}, actor, now=at)
        s.commit()
        return inst.id


def timer_fired(session: Session, instance_id: int) -> int:
    """Count the timer_fired history rows of an instance."""
    count = session.scalar(select(func.count()).select_from(HistoryEvent).where(
        HistoryEvent.instance_id == instance_id, HistoryEvent.kind == "timer_fired"))
    session.rollback()  # SQLite: a read transaction holds the write lock the worker needs
    return int(count or 0)


def rows(session: Session, instance_id: int) -> dict[str, TaskRow]:
    """Return an instance's task rows by element id (latest wins)."""
    session.expire_all()
    found = {r.element_id: r for r in session.scalars(
        select(TaskRow).where(TaskRow.instance_id == instance_id).order_by(TaskRow.created_at))}
    session.expunge_all()  # keep the loaded values: rollback would expire them
    session.rollback()
    return found


def events(session: Session, instance_id: int, kind: str | None = None) -> list[HistoryEvent]:
    """Return an instance's history rows, optionally of one kind, and release the read lock."""
    query = select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id)
    found = list(session.scalars(query.where(HistoryEvent.kind == kind) if kind else query))
    session.expunge_all()
    session.rollback()
    return found


@pytest.fixture
def deployed(session_factory: Factory, engine: Engine, people: dict[str, Actor]) -> Factory:
    """Deploy the deadline processes and return the session factory."""
    with session_factory() as s:
        engine.deploy(s, deadline_process())
        engine.deploy(s, deadline_process("cancelling", interrupting=True))
        engine.deploy(s, deadline_process("broken", follow_up="script_fails"))
        engine.deploy(s, deadline_process("working", date="working_hours(24)"))
        s.commit()
    return session_factory


def test_fire_due_fires_only_what_is_due_and_each_timer_once(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    a = start(deployed, engine, people["cs_assistant"], at=T0)
    b = start(deployed, engine, people["cs_assistant"], at=T0 + 5 * M)
    c = start(deployed, engine, people["cs_assistant"], at=T0 + 30 * M)
    assert fire_due(deployed, engine, now=T0 + 14 * M) == 0
    assert fire_due(deployed, engine, now=T0 + 16 * M) == 1
    assert fire_due(deployed, engine, now=T0 + 16 * M) == 0
    assert fire_due(deployed, engine, now=T0 + 21 * M) == 1
    assert [timer_fired(session, i) for i in (a, b, c)] == [1, 1, 0]
    with deployed() as s:
        assert next_due(s) == T0 + 45 * M
    assert fire_due(deployed, engine, now=T0 + 2 * 60 * M) == 1
    assert fire_due(deployed, engine, now=T0 + 3 * 60 * M) == 0
    assert [timer_fired(session, i) for i in (a, b, c)] == [1, 1, 1]
    with deployed() as s:
        assert next_due(s) is None


def test_fire_due_takes_the_most_overdue_first_and_honours_the_limit(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    late = start(deployed, engine, people["cs_assistant"], at=T0 + 5 * M)
    early = start(deployed, engine, people["cs_assistant"], at=T0)
    assert fire_due(deployed, engine, now=T0 + M * 60, limit=1) == 1
    assert (timer_fired(session, early), timer_fired(session, late)) == (1, 0)


def test_suspended_instances_wait_until_resumed(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    iid = start(deployed, engine, people["cs_assistant"])
    with deployed() as s:
        engine.suspend(s, iid, people["admin"], now=T0 + M)
        s.commit()
    assert fire_due(deployed, engine, now=T0 + 20 * M) == 0
    with deployed() as s:
        assert next_due(s) is None  # nothing running waits
        engine.resume(s, iid, people["admin"], now=T0 + 25 * M)
        s.commit()
    assert fire_due(deployed, engine, now=T0 + 26 * M) == 1
    assert timer_fired(session, iid) == 1


def test_a_failing_process_goes_to_error_and_the_others_still_fire(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    bad = start(deployed, engine, people["cs_assistant"], key="broken")
    good = start(deployed, engine, people["cs_assistant"], at=T0 + M)
    result = fire_pass(deployed, engine, now=T0 + 20 * M)
    assert (result.fired, result.failed, result.crashed) == (2, [bad], [])
    session.expire_all()
    broken = session.get(ProcessInstance, bad)
    assert broken is not None and broken.status == "error"
    assert (broken.error or {}).get("element_id") == "boom"
    session.rollback()
    assert timer_fired(session, good) == 1
    assert fire_due(deployed, engine, now=T0 + 30 * M) == 0  # an instance in error is not retried


def test_an_unexpected_exception_skips_that_instance_for_the_pass_without_looping(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bad = start(deployed, engine, people["cs_assistant"])
    good = start(deployed, engine, people["cs_assistant"], at=T0 + M)
    calls: list[int] = []
    real = engine.fire_timers

    def flaky(s: Session, instance_id: int, now: datetime | None = None) -> bool:
        calls.append(instance_id)
        if instance_id == bad:
            real(s, instance_id, now)  # half the work done, then the database connection "drops"
            raise RuntimeError("connection lost")
        return real(s, instance_id, now)

    monkeypatch.setattr(engine, "fire_timers", flaky)
    result = fire_pass(deployed, engine, now=T0 + 20 * M)
    assert (result.fired, result.crashed, calls) == (1, [bad], [bad, good])
    assert (timer_fired(session, bad), timer_fired(session, good)) == (0, 1)  # rolled back whole
    monkeypatch.setattr(engine, "fire_timers", real)
    assert fire_due(deployed, engine, now=T0 + 20 * M) == 1
    assert timer_fired(session, bad) == 1


def test_missed_deadline_marks_overdue_escalates_and_leaves_the_work_open(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    iid = start(deployed, engine, people["cs_assistant"])
    assert fire_due(deployed, engine, now=T0 + 15 * M + timedelta(seconds=1)) == 1
    tasks = rows(session, iid)
    assert tasks["arrive"].status == "open" and tasks["arrive"].overdue
    assert tasks["arrive"].due_at == T0 + 15 * M
    assert tasks["follow_up"].status == "open" and tasks["follow_up"].role == "engineering_dispatcher"
    [escalation] = events(session, iid, "escalation")
    assert escalation.element_id == "arrive" and escalation.task_id == tasks["arrive"].id
    assert events(session, iid, "task_cancelled") == []
    with deployed() as s:
        engine.complete(s, tasks["arrive"].id, {}, people["technician"], now=T0 + 20 * M)
        s.commit()
    assert rows(session, iid)["arrive"].status == "completed"


def test_an_interrupting_deadline_cancels_the_late_task(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    iid = start(deployed, engine, people["cs_assistant"], key="cancelling")
    assert fire_due(deployed, engine, now=T0 + 16 * M) == 1
    tasks = rows(session, iid)
    assert tasks["arrive"].status == "cancelled"
    assert tasks["follow_up"].status == "open" and tasks["follow_up"].role == "engineering_dispatcher"
    kinds = {e.kind for e in events(session, iid)}
    assert {"timer_fired", "escalation", "task_cancelled"} <= kinds


def test_a_working_hours_deadline_fires_after_the_weekend(
        deployed: Factory, engine: Engine, people: dict[str, Actor], session: Session) -> None:
    friday_5pm = datetime(2026, 11, 27, 17, tzinfo=SH).astimezone(UTC)
    iid = start(deployed, engine, people["cs_assistant"], key="working", at=friday_5pm)
    deadline = datetime(2026, 12, 1, 19, tzinfo=SH).astimezone(UTC)  # 2 h Fri + 11 h Mon + 11 h Tue
    assert rows(session, iid)["arrive"].due_at == deadline
    assert fire_due(deployed, engine, now=friday_5pm + timedelta(hours=24)) == 0
    assert fire_due(deployed, engine, now=deadline - timedelta(seconds=1)) == 0
    assert fire_due(deployed, engine, now=deadline + timedelta(seconds=1)) == 1
    assert rows(session, iid)["arrive"].overdue


@pytest.mark.parametrize(("duration", "date", "said"), [
    ("working_hours(24)", None, "working_hours(…) gives a moment"),
    ("minutes_after(started_at, 15)", None, "minutes_after(…) gives a moment"),
    (None, "PT15M", "not the duration 'PT15M'"),
    (None, "'PT2H'", "not the duration 'PT2H'"),
    (None, "in_working_hours()", "in_working_hours() gives yes or no"),
])
def test_a_timer_of_the_wrong_kind_is_refused_at_deploy_naming_its_element(
        session: Session, engine: Engine, duration: str | None, date: str | None, said: str) -> None:
    xml = deadline_process("wrong_kind", date=date)
    if duration is not None:
        xml = xml.replace("PT15M", duration)
    with pytest.raises(InvalidBpmn) as refused:
        engine.deploy(session, xml)
    assert [(p.element_id, said in p.message) for p in refused.value.problems] == [("late", True)]
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ProcessVersion).where(
        ProcessVersion.process_key == "wrong_kind")) == 0


def test_wake_local_fires_only_after_the_commit_that_moved_a_wakeup_earlier(
        deployed: Factory, engine: Engine, people: dict[str, Actor]) -> None:
    worker_mod.WAKE.clear()
    with deployed() as s:
        engine.start(s, "deadline", {}, people["cs_assistant"])
        assert s.info.get(worker_mod.WAKEUP_FLAG) and not worker_mod.WAKE.is_set()
        s.rollback()
    assert not worker_mod.WAKE.is_set()
    with deployed() as s:
        engine.start(s, "deadline", {}, people["cs_assistant"])
        s.commit()
    assert worker_mod.WAKE.is_set()


def deploy_soon(factory: Factory, clock: Callable[[], datetime] | None = None) -> Engine:
    """Deploy a process whose deadline is one second away; return an engine on the given (or real) clock."""
    engine = Engine(calendar=BusinessCalendar(country=None), clock=clock)
    p = Process("soon")
    p.start()
    p.user("arrive", "technician", [])
    p.timer("late", "arrive", duration="PT1S")
    p.end("end")
    p.chain("start", "arrive", "end")
    with factory() as s:
        engine.deploy(s, p.xml())
        s.commit()
    return engine


def wait_fired(session: Session, instance_id: int, bound: float = 120.0) -> bool:
    """Wait until the instance's timer fired (the bound only ends a hung wait); return whether it did."""
    while timer_fired(session, instance_id) == 0:
        if bound <= 0:
            return False
        time.sleep(0.05)
        bound -= 0.05
    return True


def count_passes(worker: Worker) -> list[float]:
    """Record the moment of each pass the worker makes (how often it woke)."""
    passes: list[float] = []
    real_once = worker.run_once

    def counted(stop: threading.Event | None = None) -> PassResult:
        passes.append(time.monotonic())
        return real_once(stop)

    worker.run_once = counted  # type: ignore[method-assign]
    return passes


@dataclass
class Sleep:
    """One wait of the worker: how long it asked to sleep, whether a wake-up was pending, how it ended."""

    seconds: float | None
    pending: bool
    woken: bool | None = None  # True: a wake-up ended it; False: the time ran out; None: still asleep


class SleepLog(threading.Event):
    """Stands in for a worker's wake event and records every sleep, so tests wait on events, not time.

    With `pass_time`, a sleep shorter than `real_below` is not slept: the fake clock is advanced by
    its length instead, as if the time had passed.
    """

    def __init__(self, pass_time: Callable[[float], None] | None = None, real_below: float = 0.0) -> None:
        super().__init__()
        self.sleeps: list[Sleep] = []
        self.changed = threading.Condition()
        self.pass_time = pass_time
        self.real_below = real_below

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep like Event.wait, recording the sleep (or let fake time pass for a short one)."""
        sleep = Sleep(timeout, self.is_set())
        self._note(lambda: self.sleeps.append(sleep))
        if self.pass_time is not None and not sleep.pending and timeout is not None \
                and timeout < self.real_below:
            self.pass_time(timeout)
            woken = False
        else:
            woken = super().wait(timeout)
        self._note(lambda: setattr(sleep, "woken", woken))
        return woken

    def _note(self, change: Callable[[], object]) -> None:
        """Apply a change to the record and tell waiting tests."""
        with self.changed:
            change()
            self.changed.notify_all()

    def until(self, predicate: Callable[[list[Sleep]], bool], bound: float = 120.0) -> list[Sleep]:
        """Block until the record satisfies `predicate` (the bound only ends a hung wait); return it."""
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.sleeps), bound), self.sleeps
            return list(self.sleeps)


def test_the_worker_sleeps_until_due_and_wakes_for_a_new_earlier_timer(
        session_factory: Factory, people: dict[str, Actor], session: Session) -> None:
    now = [datetime.now(UTC)]

    def pass_time(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    engine = deploy_soon(session_factory, clock=lambda: now[0])
    worker = Worker(session_factory, engine, max_sleep=30.0)
    passes = count_passes(worker)
    log = worker._wake = SleepLog(pass_time, real_below=30.0)  # noqa: SLF001 - observe its sleeps
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        log.until(lambda s: len(s) == 1)  # idle: one pass, then asleep for the whole 30 s cap
        iid = start(session_factory, engine, people["cs_assistant"], key="soon", at=now[0])
        sleeps = log.until(lambda s: len(s) == 3)  # woken by the start, slept until due, fired, idle
    finally:
        stop.set()
        worker.stop()
        thread.join(60)
    idle, until_due, after = sleeps
    assert idle.seconds == pytest.approx(30.001) and idle.woken is True  # the start woke it early
    assert until_due.seconds == pytest.approx(1.001) and until_due.woken is False  # slept exactly to due
    assert after.seconds == pytest.approx(30.001)  # nothing left: idle again, no polling
    assert timer_fired(session, iid) == 1
    assert len(passes) == 3  # idle, woken by the start, the due time
    assert not thread.is_alive()


def test_wake_local_sets_every_running_worker() -> None:
    ev = threading.Event()
    worker_mod._wake_events.add(ev)  # noqa: SLF001 - stands in for a running worker
    try:
        wake_local()
        assert ev.is_set()
    finally:
        worker_mod._wake_events.discard(ev)  # noqa: SLF001


def test_bpm_worker_once_fires_what_is_due_at_the_given_time(
        db_url: str, session_factory: Factory, engine: Engine, people: dict[str, Actor],
        session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from webui import create_app
    from webui.cli import cli, load_extensions

    with session_factory() as s:
        engine.deploy(s, deadline_process())
        s.commit()
    iid = start(session_factory, engine, people["cs_assistant"])
    monkeypatch.setenv("BPM_INSTANCE_PATH", f"{tmp_path}/instance")
    load_extensions()
    info = ScriptInfo(create_app=lambda: create_app({"TESTING": True, "SECRET_KEY": "x",
                                                      "BPM_DATABASE_URL": db_url}))
    runner = CliRunner()
    early = runner.invoke(cli, ["worker", "--once", "--now", "2026-11-23T10:14:00"], obj=info)
    assert early.exit_code == 0, early.output
    assert "fired 0" in early.output and "2026-11-23T02:15:00" in early.output
    due = runner.invoke(cli, ["worker", "--once", "--now", "2026-11-23T02:16:00+00:00"], obj=info)
    assert due.exit_code == 0, due.output
    assert "fired 1" in due.output and "nothing waiting" in due.output
    assert timer_fired(session, iid) == 1
    bad = runner.invoke(cli, ["worker", "--once", "--now", "yesterday"], obj=info)
    assert bad.exit_code != 0 and "ISO" in bad.output


def test_bpm_run_with_worker_fires_timers_in_a_daemon_thread_of_the_web_process(
        db_url: str, session_factory: Factory, people: dict[str, Actor], session: Session,
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from webui import create_app
    from webui.cli_worker import start_embedded_worker
    from webui.extensions import db

    engine = deploy_soon(session_factory)
    monkeypatch.setenv("BPM_INSTANCE_PATH", f"{tmp_path}/instance")
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "BPM_DATABASE_URL": db_url})
    worker, thread, stop = start_embedded_worker(app)
    try:
        assert thread.daemon and app.extensions["bpm_worker"] is worker
        iid = start(session_factory, engine, people["cs_assistant"], key="soon", at=datetime.now(UTC))
        assert wait_fired(session, iid)
    finally:
        stop.set()
        worker.stop()
        thread.join(5)
        db.dispose(app)
    assert timer_fired(session, iid) == 1 and not thread.is_alive()
