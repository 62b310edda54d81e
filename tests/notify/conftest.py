"""Fixtures for notification tests: a small dispatch process, staff, a running worker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from engine.calendar import BusinessCalendar
from engine.notify.delivery import Policy
from engine.runtime import Actor, Engine
from engine.store.unit_of_work import run_unit
from engine.worker import Worker
from tests.bpmn_builder import Process
from tests.conftest import T0, add_user

Factory = Callable[[], Session]


def dispatch_process(key: str = "dispatch", notify: str = "") -> str:
    """Return: start → arrive (technician, 15-minute deadline → follow-up by the dispatcher) → end."""
    p = Process(key)
    p.start()
    p.user("arrive", "technician", [])
    p.timer("late", "arrive", duration="PT15M")
    p.user("follow_up", "engineering_dispatcher", [])
    p.end("end", outcome="closed")
    p.end("fu_end")
    p.chain("start", "arrive", "end")
    p.chain("late", "follow_up", "fu_end")
    xml = p.xml()
    if notify:  # a pf:notify on the start event
        xml = xml.replace('<bpmn:startEvent id="start">',
                          f'<bpmn:startEvent id="start"><bpmn:extensionElements>{notify}'
                          "</bpmn:extensionElements>")
    return xml


@pytest.fixture
def staff(session_factory: Factory) -> dict[str, Actor]:
    """Create the people of the dispatch process, committed."""
    with session_factory() as s:
        actors = {name: add_user(s, name, role) for name, role in (
            ("tech_wang", "technician"), ("tech_li", "technician"), ("disp_zhao", "engineering_dispatcher"),
            ("cs_chen", "cs_assistant"), ("boss", "admin"))}
        s.commit()
    return actors


@pytest.fixture
def deployed(session_factory: Factory, engine: Engine) -> Engine:
    """Deploy the dispatch process."""
    with session_factory() as s:
        engine.deploy(s, dispatch_process())
        s.commit()
    return engine


def start_dispatch(factory: Factory, engine: Engine, actor: Actor, key: str = "dispatch") -> int:
    """Start one case as a unit of work (so its notifications are written) and return its id."""
    with factory() as s:
        return run_unit(s, lambda: engine.start(s, key, {}, actor, now=T0)).unwrap().id


def fast_policy(**kw: object) -> Policy:
    """Return a delivery policy with short retry waits (the tests wait on events, not on clocks)."""
    options: dict[str, object] = {"retry_base": 0.02, "retry_max": 0.1, "lease": 30.0,
                                  "base_url": "http://pf.test", "lead": timedelta(minutes=15)}
    options.update(kw)
    return Policy(**options)  # type: ignore[arg-type]


@dataclass
class RunningWorker:
    """A worker thread a test started; `stop()` returns once its current pass has committed."""

    worker: Worker
    thread: threading.Thread
    stopping: threading.Event

    def stop(self) -> None:
        """Ask the worker to stop and wait for its thread (idempotent)."""
        self.stopping.set()
        self.worker.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker thread did not stop"


@pytest.fixture
def running_worker(session_factory: Factory) -> Iterator[Callable[..., RunningWorker]]:
    """Start a worker thread on demand (with a given policy); stop it afterwards."""
    started: list[RunningWorker] = []

    def run(policy: Policy) -> RunningWorker:
        worker = Worker(session_factory, Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0),
                        policy=policy)
        stopping = threading.Event()
        thread = threading.Thread(target=worker.run_forever, args=(stopping,), daemon=True)
        thread.start()
        started.append(RunningWorker(worker, thread, stopping))
        return started[-1]

    yield run
    for running in started:
        running.stop()
