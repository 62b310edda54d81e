"""Races over HTTP against a live server: two people (or two admins) act on the same task or instance at
the same moment. Exactly one wins; the other gets 409 (or 403 when the winner now owns the task);
`bpm check` stays clean. gunicorn with 2 workers on PostgreSQL, and the development server on SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.load import PG_URL, Service, Staff, fresh_database, prepare
from department import services
from engine.integrity import check_all
from engine.store.db import make_engine, make_session_factory
from engine.store.models import HistoryEvent, TaskRow
from tests.bpmn_builder import Process
from tests.pg import pg_unreachable, skip_without_pg

PAIRS = {"postgresql": 8, "sqlite": 5}  # per kind of race
STAFF = {"disp_a": "engineering_dispatcher", "disp_b": "engineering_dispatcher", "tech": "technician",
         "admin_a": "admin", "admin_b": "admin", "asst": "cs_assistant"}
DISPATCH = {"trade": "plumbing", "technician": "tech"}


RETRY_KEY = "hazardous_goods_issuance"  # a new version of it: the one process bound to ledger_issue


def retry_process() -> str:
    """Return a process whose first step issues alcohol: it fails until there is stock."""
    p = Process(RETRY_KEY)
    p.start()
    p.script("take", "balance = ledger_issue('alcohol', 1)")
    p.user("after", "cs_assistant", [])
    p.end("end")
    p.chain("start", "take", "after", "end")
    return p.xml()


@dataclass
class Live:
    """A running server on a prepared database, with signed-in staff."""

    backend: str
    service: Service
    staff: dict[str, Staff]
    session: sessionmaker[Session]


@pytest.fixture(scope="module", params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Start gunicorn (2 workers) on PostgreSQL, or the development server on SQLite."""
    backend = request.param
    if backend == "postgresql":
        reason = pg_unreachable()
        if reason:
            skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): "
                            "HTTP races on PostgreSQL NOT tested")
    folder = tmp_path_factory.mktemp(f"races_{backend}")
    extra = folder / "race_retry.bpmn"
    extra.write_text(retry_process(), encoding="utf-8")
    with fresh_database(backend, folder) as url:
        prepare(url, STAFF, (extra,))
        service = Service("gunicorn" if backend == "postgresql" else "dev", url, folder)
        service.start()
        bind = make_engine(url)
        try:
            staff = {name: Staff(service.base, name, role) for name, role in STAFF.items()}
            for member in staff.values():
                member.sign_in()
            yield Live(backend, service, staff, make_session_factory(bind))
        finally:
            service.stop()
            bind.dispose()
            runs = TALLY.get(backend, [])
            won = sum(1 for a, b, _ in runs if (a, b).count(200) == 1)
            print(f"\nraces on {backend}: {len(runs)} pairs, {won} with exactly one winner, "
                  f"{sum(1 for *_, o in runs if o)} overlapping in time")


def start_repairs(live: Live, count: int) -> list[tuple[int, str]]:
    """Start repair requests over HTTP; return (instance id, dispatch task id) of each."""
    out = []
    for _ in range(count):
        status, body = live.staff["asst"].start_repair()
        assert status == 201, body
        [task] = [t for t in body["open_tasks"] if t["name"] == "dispatch"]
        out.append((body["id"], task["id"]))
    return out


Action = Callable[[], tuple[int, object]]
TALLY: dict[str, list[tuple[int, int, bool]]] = {}  # backend → every race run, for the report


def race(first: Action, second: Action) -> tuple[int, int, bool]:
    """Fire two requests at the same moment; return both statuses and whether they overlapped."""
    barrier = threading.Barrier(2)
    results: list[tuple[int, float, float]] = [(0, 0.0, 0.0), (0, 0.0, 0.0)]

    def fire(index: int, action: Action) -> None:
        barrier.wait()
        began = time.monotonic()
        status, _ = action()
        results[index] = (status, began, time.monotonic())

    threads = [threading.Thread(target=fire, args=(i, a)) for i, a in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (a, a0, a1), (b, b0, b1) = results
    return a, b, a0 < b1 and b0 < a1


def one_winner(live: Live, outcomes: list[tuple[int, int, bool]], losers: set[int]) -> None:
    """Assert every race had exactly one 200 and a loser answered with one of `losers`."""
    TALLY.setdefault(live.backend, []).extend(outcomes)
    for a, b, _overlapped in outcomes:
        assert sorted([a, b])[0] in losers | {200} and 200 in (a, b) and (a, b).count(200) == 1, outcomes
        assert ({a, b} - {200}) <= losers, outcomes


def checked(live: Live) -> None:
    """Assert `bpm check` finds nothing on the live database."""
    with live.session() as session:
        assert check_all(session) == []


def post(member: Staff, path: str, kind: str, body: object = None) -> Action:
    """Return an action sending one POST."""
    return lambda: member.call("POST", path, kind, body if body is not None else {})


def test_two_dispatchers_completing_one_task(live: Live) -> None:
    a, b = live.staff["disp_a"], live.staff["disp_b"]
    outcomes = [race(post(a, f"/tasks/{t}/complete", "complete", {"data": DISPATCH}),
                     post(b, f"/tasks/{t}/complete", "complete", {"data": DISPATCH}))
                for _, t in start_repairs(live, PAIRS[live.backend])]
    one_winner(live, outcomes, {409})
    checked(live)


def test_a_double_click_completes_once(live: Live) -> None:
    a = live.staff["disp_a"]
    outcomes = [race(post(a, f"/tasks/{t}/complete", "complete", {"data": DISPATCH}),
                     post(a, f"/tasks/{t}/complete", "complete", {"data": DISPATCH}))
                for _, t in start_repairs(live, PAIRS[live.backend])]
    one_winner(live, outcomes, {409})
    checked(live)


def test_two_dispatchers_claiming_one_task(live: Live) -> None:
    a, b = live.staff["disp_a"], live.staff["disp_b"]
    outcomes = [race(post(a, f"/tasks/{t}/claim", "claim"), post(b, f"/tasks/{t}/claim", "claim"))
                for _, t in start_repairs(live, PAIRS[live.backend])]
    one_winner(live, outcomes, {409})
    checked(live)


def test_a_claim_racing_a_completion_by_someone_else(live: Live) -> None:
    a, b = live.staff["disp_a"], live.staff["disp_b"]
    outcomes = [race(post(a, f"/tasks/{t}/claim", "claim"),
                     post(b, f"/tasks/{t}/complete", "complete", {"data": DISPATCH}))
                for _, t in start_repairs(live, PAIRS[live.backend])]
    one_winner(live, outcomes, {403, 409})  # claimed first: the task is now a's (403); completed first: 409
    checked(live)


@pytest.mark.parametrize("action", ["suspend", "terminate"])
def test_two_admins_doing_the_same_thing_to_one_instance(live: Live, action: str) -> None:
    a, b = live.staff["admin_a"], live.staff["admin_b"]
    instances = [i for i, _ in start_repairs(live, PAIRS[live.backend])]
    outcomes = [race(post(a, f"/process-instances/{i}/{action}", action),
                     post(b, f"/process-instances/{i}/{action}", action)) for i in instances]
    one_winner(live, outcomes, {409})
    past = {"suspend": "suspended", "terminate": "terminated"}[action]
    with live.session() as session:
        for instance_id in instances:
            events = session.scalars(select(HistoryEvent.kind).where(
                HistoryEvent.instance_id == instance_id, HistoryEvent.kind == past)).all()
            assert len(events) == 1
    checked(live)


def test_two_admins_resuming_and_retrying(live: Live) -> None:
    a, b = live.staff["admin_a"], live.staff["admin_b"]
    count = PAIRS[live.backend]
    suspended = [i for i, _ in start_repairs(live, count)]
    for instance_id in suspended:
        assert a.call("POST", f"/process-instances/{instance_id}/suspend", "suspend", {})[0] == 200
    resumed = [race(post(a, f"/process-instances/{i}/resume", "resume"),
                    post(b, f"/process-instances/{i}/resume", "resume")) for i in suspended]
    one_winner(live, resumed, {409})
    failed = []
    for _ in range(count):  # no alcohol in stock: each instance stops in error at its first step
        status, body = live.staff["asst"].call("POST", "/process-instances", "start",
                                               {"process_key": RETRY_KEY, "data": {}})
        assert status == 201 and body["status"] == "error", body
        failed.append(body["id"])
    with live.session() as session:
        services.stock_in(session, "alcohol", 100, "delivery", "admin_a", datetime.now(UTC))
        session.commit()
    retried = [race(post(a, f"/process-instances/{i}/retry", "retry"),
                    post(b, f"/process-instances/{i}/retry", "retry")) for i in failed]
    # The first retry issues the alcohol and runs on; the second finds the instance running.
    one_winner(live, retried, {409})
    with live.session() as session:
        issued = [ln for ln in services.ledger_lines(session, "alcohol") if ln.kind == "issue"]
        assert len(issued) == count
        after = session.scalars(select(TaskRow).where(TaskRow.instance_id.in_(failed),
                                                      TaskRow.status == "open")).all()
        assert len(after) == count
    checked(live)

