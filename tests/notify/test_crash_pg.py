"""kill -9 of a worker process in the middle of a delivery on PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from engine.calendar import BusinessCalendar
from engine.notify import channels
from engine.notify.models import Delivery
from engine.runtime import Engine
from engine.store.db import make_session_factory
from engine.store.unit_of_work import run_unit
from tests.conftest import T0, add_user
from tests.pg import private_schema, schema_bind

from .conftest import dispatch_process, fast_policy
from .receivers import http_receiver

pytestmark = pytest.mark.postgres
CASES = 12


@pytest.fixture
def schema() -> Iterator[str]:
    """A private schema with the tables; dropped afterwards."""
    with private_schema("the delivery crash drill", prefix="bpm_n") as name:
        yield name


def _engine() -> Engine:
    return Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)


def all_sent(factory: Any) -> bool:
    """Tell whether every webhook delivery is committed as sent."""
    with factory() as s:
        return set(s.scalars(select(Delivery.status).where(Delivery.channel.like("webhook:%")))) == {"sent"}


def run_worker(schema: str) -> None:
    """Child process: the ordinary worker loop (timers and deliveries) until killed."""
    from engine.worker import Worker

    bind = schema_bind(schema)
    # A short lease: the delivery the kill interrupted is due again soon after the restart.
    Worker(make_session_factory(bind), _engine(), bind, policy=fast_policy(lease=2.0)).run_forever(
        threading.Event())


def test_a_worker_killed_during_delivery_loses_nothing_and_sends_nothing_twice(schema: str) -> None:
    bind = schema_bind(schema)
    factory = make_session_factory(bind)
    engine = _engine()
    hold = threading.Event()
    spawn = mp.get_context("spawn")
    with http_receiver(hold=hold) as (url, inbox):
        with factory() as s:
            add_user(s, "tech_wang", "technician")
            add_user(s, "cs_chen", "cs_assistant")
            engine.deploy(s, dispatch_process())
            channels.add_webhook(s, url, roles=["technician"], now=T0)
            s.commit()
        from engine.runtime import Actor

        starter = Actor("cs_chen", frozenset({"cs_assistant"}))
        for _ in range(CASES):
            with factory() as s:
                run_unit(s, lambda s=s: engine.start(s, "dispatch", {}, starter, now=T0))
        first = spawn.Process(target=run_worker, args=(schema,), daemon=True)
        first.start()
        inbox.wait_for(lambda items: len(items) >= 1)  # a delivery is on the wire, its answer held
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        first.join(30)
        hold.set()
        second = spawn.Process(target=run_worker, args=(schema,), daemon=True)
        second.start()
        try:
            with factory() as s:
                keys = set(s.scalars(select(Delivery.idempotency_key)
                                     .where(Delivery.channel.like("webhook:%"))))
            inbox.wait_for(lambda items: {h.key for h in items} >= keys)
            settled = time.monotonic() + 120  # a bound against hanging only
            while not all_sent(factory) and time.monotonic() < settled:
                time.sleep(0.05)
            assert all_sent(factory)
            hits = list(inbox.items)
        finally:
            second.kill()
            second.join(30)
    per_key = Counter(h.key for h in hits)
    assert len(keys) == CASES and set(per_key) == keys  # none lost
    interrupted = hits[0].key
    # Only the request in flight at the kill reaches the receiver again, under the same key (so the
    # receiver applies it once); every other delivery is sent exactly once.
    assert all(n == 1 for key, n in per_key.items() if key != interrupted)
    assert per_key[interrupted] == 2
    bind.dispose()


