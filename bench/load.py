"""Load run: simulated staff work the repair inbox over HTTP against a live server, then the books are
checked — no 5xx, no completion lost or doubled (history vs. answers), `bpm check` clean.

    python -m bench.load [--quick] [--staff 50] [--seconds 60] [--database postgresql|sqlite]
                         [--server gunicorn|dev] [--json PATH]

Loopback only; stops by itself. The server runs as a subprocess (gunicorn with 2 workers, or the
development server), so the same harness serves the race and crash tests in tests/reliability.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from sqlalchemy import create_engine, select, text

from department.domain import register
from engine.calendar import BusinessCalendar
from engine.integrity import check_all
from engine.passwords import hash_password
from engine.runtime import Engine
from engine.store import migrations
from engine.store.db import make_engine, make_session_factory
from engine.store.models import HistoryEvent, User, UserRole

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BPM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "load-" + secrets.token_hex(8)
SECRET_KEY = secrets.token_hex(16)  # one key across restarts: signed-in sessions survive a kill -9
TIMEOUT = 30.0
REPAIR = {"channel": "phone", "reporter_name": "王先生", "contact_phone": "13800138000", "unit": "A-1203",
          "description": "洗手間水龍頭漏水", "category": "repair", "paid": False}
# Share of the staff per role; the repair path's five user tasks are spread over them.
MIX = (("cs_assistant", 0.35), ("engineering_dispatcher", 0.2), ("technician", 0.3), ("area_foreman", 0.15))


# -- databases and servers -----------------------------------------------------------------------------
@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder}/load-{uuid.uuid4().hex[:8]}.sqlite"
        return
    schema = f"bpm_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def prepare(url: str, staff: dict[str, str], extra_bpmn: tuple[Path, ...] = ()) -> None:
    """Migrate, create the staff (username → role) with PASSWORD, deploy processes/ and extra files."""
    bind = make_engine(url)
    migrations.init_database(bind)
    hashed = hash_password(PASSWORD)  # one scrypt for everyone: preparing is not what is measured
    engine = Engine(calendar=BusinessCalendar(country=None))
    with make_session_factory(bind)() as session:
        now = datetime.now(UTC)
        for username, role in staff.items():
            user = User(username=username, display_name=username, password_hash=hashed, created_at=now)
            user.roles = [UserRole(role=r) for r in role.split()]
            session.add(user)
        for path in (*sorted((ROOT / "processes").glob("*.bpmn")), *extra_bpmn):
            engine.deploy(session, path.read_bytes(), filename=path.name)
        session.commit()
    bind.dispose()


PORT_ATTEMPTS = 5  # starts on a fresh port when a parallel test's server took the one picked


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A server process of the product (gunicorn, the development server, or the timer worker)."""

    kind: str  # "gunicorn" | "dev" | "worker"
    url: str
    folder: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        """Return the server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """Return the command line of this service."""
        bpm = [sys.executable, "-c", "from webui.cli import main; main()"]
        if self.kind == "gunicorn":
            return [sys.executable, "-m", "gunicorn", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}",
                    "--timeout", "120", "webui:create_app()"]
        if self.kind == "dev":
            return [*bpm, "run", "--host", "127.0.0.1", "--port", str(self.port), "--with-worker"]
        return [*bpm, "worker"]

    def start(self, wait: float = 90.0) -> None:
        """Start the process in its own process group and wait until it answers."""
        # The port was free when picked, but another process (a parallel test's server) may take it first:
        # then ours cannot bind and exits, and the service starts again on a new port.
        for _attempt in range(PORT_ATTEMPTS):
            if self._start_once(wait):
                return
            self.port = free_port()
        raise RuntimeError(f"{self.kind} found its port taken {PORT_ATTEMPTS} times: {self.log_tail()}")

    def _start_once(self, wait: float) -> bool:
        """Start the process; return False when its port was taken, True once it answers on it."""
        env = {**os.environ, "BPM_DATABASE_URL": self.url, "BPM_SECRET_KEY": SECRET_KEY,
               "BPM_INSTANCE_PATH": str(self.folder), "PYTHONPATH": str(ROOT)}
        log_path = self.folder / f"{self.kind}.log"
        logged = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(self.argv(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1
        if self.kind == "worker":
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            said = log_path.read_bytes()[logged:].decode(errors="replace")
            if self.proc.poll() is not None:
                if "in use" in said.lower():
                    return False
                raise RuntimeError(f"{self.kind} exited: {self.log_tail()}")
            # gunicorn keeps retrying a taken port while the other server answers there: ask only once
            # it says it listens (the development server binds before it answers, or exits).
            if self.kind != "gunicorn" or f"Listening at: {self.base}" in said:
                try:
                    requests.get(f"{self.base}/login", timeout=2)
                    return True
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"{self.kind} did not answer within {wait:.0f} s: {self.log_tail()}")

    def kill(self) -> None:
        """kill -9 the whole process group (master and workers), mid-request if need be."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing after 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        """Return the end of the service's log."""
        path = self.folder / f"{self.kind}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


# -- simulated staff ---------------------------------------------------------------------------------------
class Staff:
    """One member of staff in a browser: signed in through the form, sending the CSRF token."""

    def __init__(self, base: str, username: str, role: str, password: str = PASSWORD) -> None:
        self.base, self.username, self.role, self.password = base, username, role, password
        self.http = requests.Session()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.completed: list[str] = []  # task ids answered 200
        self.unknown: list[str] = []  # completions whose answer never came (connection dropped)
        self.started: list[int] = []
        self.surprises: list[str] = []  # what the server said when it answered an unexpected status

    def sign_in(self) -> None:
        """Sign in through the login form and keep the page's CSRF token for API calls."""
        page = self.http.get(f"{self.base}/login", timeout=TIMEOUT).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        if token is None:
            raise RuntimeError("the sign-in page carries no csrf_token")
        self.http.post(f"{self.base}/login", data={"csrf_token": token[1], "username": self.username,
                                                   "password": self.password}, timeout=TIMEOUT)
        meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', self.http.get(f"{self.base}/",
                                                                                     timeout=TIMEOUT).text)
        if meta is None:
            raise RuntimeError(f"{self.username} could not sign in")
        self.http.headers["X-CSRFToken"] = meta[1]

    def call(self, method: str, path: str, kind: str, body: Any = None) -> tuple[int, Any]:
        """Send one API request; record its latency and status (0 when the connection failed)."""
        started = time.perf_counter()
        try:
            answer = self.http.request(method, f"{self.base}/api/v1{path}", json=body, timeout=TIMEOUT)
        except requests.RequestException:
            self.statuses[(kind, 0)] += 1
            return 0, None
        self.latency[kind].append(time.perf_counter() - started)
        self.statuses[(kind, answer.status_code)] += 1
        task = TASK_PATH.match(path)
        if task:
            with TRAIL_LOCK:
                TRAIL[task[1]].append(f"{started - T_ZERO:.3f}-{time.perf_counter() - T_ZERO:.3f}s "
                                      f"{self.username} {kind} {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code not in (200, 201, 409):
            message = body.get("message") if isinstance(body, dict) else answer.text[:200]
            trail = "; ".join(TRAIL.get(task[1], [])) if task else ""
            self.surprises.append(f"{self.username} {method} {path} → {answer.status_code}: {message}"
                                  + (f" [this task's requests: {trail}]" if trail else ""))
        return answer.status_code, body

    def complete(self, task_id: str, data: dict[str, Any]) -> tuple[int, Any]:
        """Complete a task, remembering the outcome for the books."""
        status, body = self.call("POST", f"/tasks/{task_id}/complete", "complete", {"data": data})
        if status == 200:
            self.completed.append(task_id)
        elif status == 0:
            self.unknown.append(task_id)
        return status, body

    def start_repair(self) -> tuple[int, Any]:
        """Register a repair request."""
        status, body = self.call("POST", "/process-instances", "start",
                                 {"process_key": "repair_dispatch", "data": REPAIR})
        if status == 201:
            self.started.append(body["id"])
        return status, body


# Every request on a task, from every client: explains an unexpected answer in the report.
TASK_PATH = re.compile(r"^/tasks/([0-9a-f-]{36})/")
TRAIL: defaultdict[str, list[str]] = defaultdict(list)
TRAIL_LOCK = threading.Lock()
T_ZERO = time.perf_counter()


def task_data(element: str, technicians: list[str]) -> dict[str, Any] | None:
    """Return valid form data for a step of the repair path, None for steps the load leaves alone."""
    steps: dict[str, dict[str, Any]] = {
        "dispatch": {"trade": "plumbing", "technician": random.choice(technicians)},
        "arrive_on_site": {},
        "repair": {"result": "更換閥芯", "fixed": True},
        "foreman_confirm": {"confirmed": True},
        "callback": {"satisfied": True, "callback_method": "phone"},
    }
    return steps.get(element)


def work(staff: Staff, deadline: float, technicians: list[str]) -> None:
    """Work the inbox until the deadline: take a task of one's role (or start a request) and do it."""
    while time.monotonic() < deadline:
        status, mine = staff.call("GET", "/tasks?scope=mine&per_page=20", "list")
        tasks = mine["items"] if status == 200 else []
        if not tasks:
            status, group = staff.call("GET", "/tasks?scope=group&per_page=20", "list")
            tasks = group["items"] if status == 200 else []
        tasks = [t for t in tasks if task_data(t["name"], technicians) is not None]
        if not tasks:
            if staff.role == "cs_assistant":
                staff.start_repair()
            else:
                time.sleep(0.05)  # nothing for this role yet
            continue
        task = random.choice(tasks[:5])
        if task["assignee"] is None:
            claimed, _ = staff.call("POST", f"/tasks/{task['id']}/claim", "claim", {})
            if claimed != 200:
                continue  # a colleague took it first (409): look again
        elif task["assignee"] != staff.username:
            continue  # claimed by a colleague between the page's ids and its rows: the list shows who
        data = task_data(task["name"], technicians)
        assert data is not None
        done, answer = staff.complete(task["id"], data)
        if done == 409:  # the task was this member's (claimed or assigned): nobody else may have done it
            message = answer.get("message") if isinstance(answer, dict) else answer
            with TRAIL_LOCK:
                trail = "; ".join(TRAIL.get(task["id"], []))
            staff.surprises.append(f"{staff.username} completing its own task {task['id']} → 409: {message} "
                                   f"[this task's requests: {trail}]")
        if done == 200 and random.random() < 0.2:
            staff.call("GET", f"/process-instances/{task['instance_id']}", "read")


def staff_names(count: int) -> dict[str, str]:
    """Return username → role for `count` staff, spread over the repair path's roles (at least one each)."""
    names: dict[str, str] = {}
    for role, share in MIX:
        for n in range(max(1, round(count * share))):
            names[f"{role}_{n:02d}"] = role
    return names


# -- books and report ----------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (nearest rank) of values, 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def books(url: str, crew: list[Staff]) -> dict[str, Any]:
    """Compare what the clients were told with the history: lost, doubled and unanswered completions."""
    bind = make_engine(url)
    with make_session_factory(bind)() as session:
        events = Counter(str(t) for t in session.scalars(select(HistoryEvent.task_id).where(
            HistoryEvent.kind == "task_completed")))
        findings = [str(f) for f in check_all(session)]
    bind.dispose()
    acknowledged = Counter(t for s in crew for t in s.completed)
    unknown = {t for s in crew for t in s.unknown}
    return {
        "acknowledged": sum(acknowledged.values()),
        "recorded": sum(events.values()),
        "lost": sorted(t for t in acknowledged if events[t] == 0),
        "doubled": sorted(t for t, n in events.items() if n > 1) + sorted(t for t, n in acknowledged.items()
                                                                           if n > 1),
        "unacknowledged": sorted(t for t in events if t not in acknowledged and t not in unknown),
        "answer_lost_but_done": len([t for t in unknown if events[t]]),
        "findings": findings,
    }


def summarise(crew: list[Staff], seconds: float) -> dict[str, Any]:
    """Return request counts, error counts and latency percentiles (ms) per kind of request."""
    statuses: Counter[tuple[str, int]] = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    for member in crew:
        statuses.update(member.statuses)
        for kind, values in member.latency.items():
            latency[kind].extend(values)
    everything = [v for values in latency.values() for v in values]
    kinds = {kind: {"n": len(v), "p50": percentile(v, 0.5) * 1000, "p95": percentile(v, 0.95) * 1000,
                    "p99": percentile(v, 0.99) * 1000, "max": max(v) * 1000} for kind, v in latency.items()}
    kinds["all"] = {"n": len(everything), "p50": percentile(everything, 0.5) * 1000,
                    "p95": percentile(everything, 0.95) * 1000, "p99": percentile(everything, 0.99) * 1000,
                    "max": max(everything, default=0) * 1000}
    return {
        "requests": sum(statuses.values()),
        "per_second": sum(statuses.values()) / seconds,
        "server_errors": sum(n for (_, code), n in statuses.items() if code >= 500),
        "connection_errors": sum(n for (_, code), n in statuses.items() if code == 0),
        "conflicts": sum(n for (_, code), n in statuses.items() if code == 409),
        "unexpected": {f"{k} {c}": n for (k, c), n in statuses.items() if c not in (0, 200, 201, 409)
                       and c < 500},
        "latency_ms": kinds,
        "starts": sum(len(m.started) for m in crew),
        "surprises": [line for m in crew for line in m.surprises][:20],
    }


@dataclass
class LoadResult:
    """What a load run measured and what the books say."""

    staff: int
    seconds: float
    database: str
    server: str
    summary: dict[str, Any]
    books: dict[str, Any]

    @property
    def clean(self) -> bool:
        """Tell whether the run met every promise."""
        b, s = self.books, self.summary
        return not (s["server_errors"] or s["connection_errors"] or s["unexpected"] or s["surprises"]
                    or b["lost"] or b["doubled"] or b["unacknowledged"] or b["findings"])


def _run_all(threads: list[threading.Thread], timeout: float) -> None:
    """Start every thread, then wait for each (bounded)."""
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def work_together(crew: list[Staff], technicians: list[str], seconds: float, others: Sequence[Any] = (),
                  other_work: Callable[[Any, float], None] | None = None) -> float:
    """Sign everyone in, let staff (and `others` through `other_work`) work for `seconds`; return the time."""
    _run_all([threading.Thread(target=m.sign_in) for m in (*crew, *others)], 120)
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=work, args=(m, deadline, technicians), daemon=True) for m in crew]
    if other_work is not None:
        threads += [threading.Thread(target=other_work, args=(o, deadline), daemon=True) for o in others]
    began = time.monotonic()
    _run_all(threads, seconds + 2 * TIMEOUT)
    return time.monotonic() - began


def run(staff: int = 50, seconds: float = 60.0, database: str = "postgresql", server: str = "gunicorn",
        workers: int = 2) -> LoadResult:
    """Prepare a fresh database, start the server, let the staff work for `seconds`, check the books."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database(database, Path(tmp)) as url:
        names = staff_names(staff)
        prepare(url, names)
        service = Service(server, url, Path(tmp), workers=workers)
        service.start()
        try:
            crew = [Staff(service.base, name, role) for name, role in names.items()]
            technicians = [name for name, role in names.items() if role == "technician"]
            elapsed = work_together(crew, technicians, seconds)
        finally:
            service.stop()
        return LoadResult(len(crew), elapsed, database, server, summarise(crew, elapsed), books(url, crew))


def report(result: LoadResult) -> str:
    """Return the run as a small table."""
    s, b = result.summary, result.books
    lines = [f"load: {result.staff} staff for {result.seconds:.0f} s, {result.server} on {result.database}",
             f"  requests {s['requests']} ({s['per_second']:.0f}/s), repairs started {s['starts']}, "
             f"completions acknowledged {b['acknowledged']} / recorded {b['recorded']}",
             f"  5xx {s['server_errors']}, connection errors {s['connection_errors']}, 409 {s['conflicts']}, "
             f"unexpected {s['unexpected'] or 0}",
             f"  lost {len(b['lost'])}, doubled {len(b['doubled'])}, "
             f"unacknowledged {len(b['unacknowledged'])}, bpm check findings {len(b['findings'])}",
             "  latency ms      n      p50     p95     p99     max"]
    lines.extend(f"  ! {line}" for line in s["surprises"])
    for kind, q in sorted(s["latency_ms"].items()):
        lines.append(f"  {kind:<10} {q['n']:>7} {q['p50']:>8.1f} {q['p95']:>7.1f} {q['p99']:>7.1f} "
                     f"{q['max']:>7.1f}")
    lines.append("  RESULT: " + ("clean" if result.clean else "PROBLEMS (see above)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the load from the command line; exit 1 when a promise was broken."""
    register()  # the department the engine serves, as every entry point does
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 staff for 10 s (what `make test` runs)")
    parser.add_argument("--staff", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--server", choices=("gunicorn", "dev"), default="gunicorn")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    staff, seconds = (20, 10.0) if args.quick else (args.staff, args.seconds)
    result = run(staff, seconds, args.database, args.server)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1, ensure_ascii=False), encoding="utf-8")
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
