"""Figure 5: task completions through gunicorn (2 workers, webui:create_app()) on PostgreSQL over loopback.

Concurrent clients each drive their own repair_dispatch instances (no two touch one instance): POST
/api/v1/tasks/{id}/complete as the step's user (API token, HTTP Basic, or a signed-in session), the next
task id read from the answer. The timed requests go out with http.client (signing in uses requests, whose
1.6 ms of CPU a call came out of the two cores the server shares). The engine-only reference runs the
same completions through the façade with the same number of client threads, in this process, on the
same database; the three sign-in kinds and the engine alone take turns in rounds, so a noisy neighbour
hurts all alike.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from tqdm import tqdm

from engine.api_tokens import create_token
from engine.passwords import hash_password, verify_password
from engine.users import create_user

from .common import (
    ACTORS,
    REPAIR_FILE,
    REPAIR_KEY,
    REPAIR_ROLES,
    ROOT,
    START_DATA,
    STEPS,
    Database,
    Results,
    bench_engine,
    finish_repair,
    heading,
    median,
    percentile,
    pg_database,
    say,
)

PASSWORD = "bench-" + secrets.token_hex(8)
WORKERS = 2


def _free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TOKENS: dict[str, str] = {}  # role → API token secret, made by _prepare


def _prepare(db: Database, instances: int) -> list[str]:
    """Create users with passwords and tokens, deploy, start instances; return each one's first task id."""
    engine = bench_engine()
    with db.factory() as s:
        for role in REPAIR_ROLES:
            create_user(s, role, PASSWORD, [role])
            TOKENS[role] = create_token(s, role, "bench", datetime.now(UTC))[1]
        engine.deploy(s, REPAIR_FILE.read_bytes(), filename=REPAIR_FILE.name)
        s.commit()
    first: list[str] = []
    for _ in tqdm(range(instances), desc="  starting instances", unit="inst", leave=False):
        with db.factory() as s:
            inst = engine.start(s, REPAIR_KEY, START_DATA, ACTORS["cs_assistant"])
            s.commit()
            [row] = engine.open_tasks(s, inst.id)
            first.append(row.id)
    return first


def _start_server(db: Database, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start gunicorn on the bench schema; return the process and its base URL once it answers."""
    port = _free_port()
    url = f"{db.url}?options={quote(f'-csearch_path={db.schema}')}"
    env = {**os.environ, "BPM_DATABASE_URL": url, "BPM_SECRET_KEY": secrets.token_hex(16),
           "BPM_INSTANCE_PATH": str(folder)}
    log = (folder / "gunicorn.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
                             "--timeout", "120", "webui:create_app()"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {(folder / 'gunicorn.log').read_text()[-2000:]}")
        try:
            requests.get(f"{base}/api/v1/openapi.json", timeout=2)
            return proc, base
        except requests.RequestException:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("gunicorn did not answer within 90 s")


def _signed_in(base: str, username: str) -> requests.Session:
    """Return a browser-like session: signed in through the form, sending the page's CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=60).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("the sign-in page carries no csrf_token")
    browser.post(f"{base}/login", data={"csrf_token": token[1], "username": username, "password": PASSWORD,
                                        "next": "/"}, timeout=60)
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', browser.get(f"{base}/", timeout=60).text)
    if meta is None:
        raise RuntimeError(f"{username} could not sign in through the form")
    browser.headers["X-CSRFToken"] = meta[1]
    return browser


class Caller:
    """One role's timed requests: a bare http.client POST carrying its sign-in (token, Basic, or cookie)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """Send a JSON POST on a new connection (gunicorn's sync workers close each); return status, body."""
        # requests cost 1.6 ms of this process's CPU a call, taken from the two cores the server shares.
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers=self.headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()


def _client(base: str, mode: str) -> dict[str, Caller]:
    """Return one client's callers per role: API token, Basic credentials, or signed in through the form."""
    callers = {}
    for role in REPAIR_ROLES:
        if mode == "session":
            signed_in = _signed_in(base, role)
            cookies = "; ".join(f"{c.name}={c.value}" for c in signed_in.cookies)
            headers = {"Cookie": cookies, "X-CSRFToken": str(signed_in.headers["X-CSRFToken"])}
        elif mode == "token":
            headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        else:
            basic = base64.b64encode(f"{role}:{PASSWORD}".encode()).decode()
            headers = {"Authorization": f"Basic {basic}"}
        callers[role] = Caller(base, headers)
    return callers


class EngineOnly:
    """The reference: the same completions through the façade from as many threads of this process."""

    def __init__(self, db: Database, clients: int) -> None:
        self.db, self.clients = db, clients
        self.engine = bench_engine()
        self.pool = ThreadPoolExecutor(clients)

    def drive(self, first: list[str]) -> tuple[float, int]:
        """Complete every task of these instances, shared among the threads; return (seconds, completions)."""
        shares = [first[i::self.clients] for i in range(self.clients)]

        def one(ids: list[str]) -> int:
            # As the HTTP clients do: the first task is known, each next one comes with the answer.
            return sum(finish_repair(self.db, self.engine, task_id, "dispatch")[1] for task_id in ids)

        started = time.perf_counter()
        done = sum(self.pool.map(one, shares))
        return time.perf_counter() - started, done


def _drive(first_ids: list[str], callers: dict[str, Caller], bar: Any,
           lock: threading.Lock) -> tuple[list[float], list[str]]:
    """Complete every task of some instances in turn; return latencies and unexpected answers."""
    latencies: list[float] = []
    errors: list[str] = []
    for task_id in first_ids:
        element: str | None = "dispatch"
        current: str | None = task_id
        while current is not None and element is not None:
            role, data = STEPS[element]
            started = time.perf_counter()
            status, body = callers[role].post(f"/api/v1/tasks/{current}/complete", {"data": data})
            latencies.append(time.perf_counter() - started)
            with lock:
                bar.update()
            if status != 200:
                errors.append(f"{element}: {status} {body[:200].decode(errors='replace')}")
                break
            tasks = json.loads(body).get("open_tasks") or []
            current = tasks[0]["id"] if tasks else None
            element = tasks[0]["name"] if tasks else None
    return latencies, errors


class HttpClients:
    """Concurrent HTTP clients of one sign-in kind, signed in and warmed up before any clock runs."""

    def __init__(self, base: str, clients: int, mode: str, warm_up: list[str], bar: Any) -> None:
        self.base, self.clients, self.bar = base, clients, bar
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(clients)
        # Signing in (one scrypt per client and role) and one instance each: before the clock.
        self.callers = list(self.pool.map(lambda _: _client(base, mode), range(clients)))
        self.errors = unexpected(self.drive_all(warm_up)[1])

    def drive_all(self, first: list[str]) -> tuple[float, list[tuple[list[float], list[str]]]]:
        """Complete every task of these instances, shared among the clients; return (seconds, per client)."""
        shares = [first[i::self.clients] for i in range(self.clients)]
        started = time.perf_counter()
        def one(c: int) -> tuple[list[float], list[str]]:
            return _drive(shares[c], self.callers[c], self.bar, self.lock)

        done = list(self.pool.map(one, range(self.clients)))
        return time.perf_counter() - started, done


def unexpected(done: list[tuple[list[float], list[str]]]) -> list[str]:
    """Return the unexpected answers the clients met."""
    return [e for _, errs in done for e in errs]


ROUNDS = 3  # the sign-in kinds and the engine alone take turns, so a noisy neighbour hurts all alike


def _rounds(db: Database, base: str, first: list[str], clients: int, modes: tuple[str, ...]
            ) -> tuple[dict[str, tuple[float, list[float], list[str]]], tuple[float, int]]:
    """Measure every kind and the engine alone in alternating rounds; return their times and counts."""
    per_kind = len(first) // (len(modes) + 1)
    bar = tqdm(total=len(first) * len(STEPS), desc="  completions", unit="req", leave=False)
    slices = {kind: first[n * per_kind:(n + 1) * per_kind] for n, kind in enumerate((*modes, "engine"))}
    drivers = {mode: HttpClients(base, clients, mode, slices[mode][:clients], bar) for mode in modes}
    reference = EngineOnly(db, clients)
    reference.drive(slices["engine"][:clients])  # warm-up, as the HTTP clients
    runs: dict[str, tuple[float, list[float], list[str]]] = {m: (0.0, [], drivers[m].errors) for m in modes}
    engine_s, engine_n = 0.0, 0
    per_round = (per_kind - clients) // ROUNDS
    for r in range(ROUNDS):
        batch = slice(clients + r * per_round, clients + (r + 1) * per_round)
        for mode in (*modes[r % len(modes):], *modes[:r % len(modes)]):  # each kind goes first once
            seconds, done = drivers[mode].drive_all(slices[mode][batch])
            total, ms, errors = runs[mode]
            runs[mode] = (total + seconds, ms + [x * 1000 for lat, _ in done for x in lat],
                          errors + unexpected(done))
        seconds, count = reference.drive(slices["engine"][batch])
        engine_s, engine_n = engine_s + seconds, engine_n + count
        bar.update(count)
    bar.close()
    for pool in (*(d.pool for d in drivers.values()), reference.pool):
        pool.shutdown()
    return runs, (engine_s, engine_n)


def run(results: Results, quick: bool, use_pg: bool) -> None:
    """Measure completions per second and latency through gunicorn under concurrent clients."""
    # Per kind and for the engine alone: one warm-up instance per client, then ROUNDS equal batches.
    instances, clients = (4 + 3 * 4, 4) if quick else (8 + 3 * 24, 8)
    heading(f"5 HTTP: {instances} instances × {len(STEPS)} completions per sign-in kind through gunicorn "
            f"({WORKERS} workers), {clients} concurrent clients, PostgreSQL on loopback")
    if not use_pg:
        say("SKIPPED: PostgreSQL is not reachable (this figure runs on PostgreSQL)")
        results.add("5 HTTP completions", "SKIPPED (no PostgreSQL)", "n/a", "", "reported", "—")
        return
    modes = ("token", "basic", "session")
    with pg_database() as db, tempfile.TemporaryDirectory() as tmp:
        first = _prepare(db, (len(modes) + 1) * instances)
        proc, base = _start_server(db, Path(tmp))
        try:
            runs, (engine_s, engine_n) = _rounds(db, base, first, clients, modes)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    engine_only = engine_n / engine_s
    say(f"engine only, {clients} client threads in one process (one GIL), same database, in turn with the "
        f"HTTP clients ({ROUNDS} rounds): {engine_n} completions in {engine_s:.1f} s = {engine_only:.1f}/s")
    sample = hash_password("x" * 12)
    t0 = time.perf_counter()
    for _ in range(5):
        verify_password(sample, "x" * 12)
    scrypt_ms = (time.perf_counter() - t0) / 5 * 1000
    reference = f"engine only, {clients} clients: {engine_only:.0f}/s"
    labels = {"token": "API token (scripts)", "basic": "HTTP Basic (scripts)",
              "session": "signed-in session (browser)"}
    for mode, (elapsed, ms, errors) in runs.items():
        rate = len(ms) / elapsed
        p50, p95, p99 = median(ms), percentile(ms, 0.95), percentile(ms, 0.99)
        label = labels[mode]
        say(f"{label}: {len(ms)} completions in {elapsed:.1f} s = {rate:.1f}/s; p50 {p50:.0f} ms, "
            f"p95 {p95:.0f} ms, p99 {p99:.0f} ms; {len(errors)} unexpected answers")
        for e in errors[:3]:
            say(f"  unexpected: {e}")
        if errors:
            results.failures.append(f"5: {len(errors)} {mode} completions answered other than 200")
        target = "≥ 0.8× and ≥ 150/s" if mode == "token" else "reported"
        met: bool | str = (rate >= 0.8 * engine_only and rate >= 150) if mode == "token" else "—"
        if errors:
            met = "NO (errors)"
        results.add(f"5 HTTP completions/s, {label} (p50/p95/p99)",
                    f"{rate:.1f}/s ({p50:.0f}/{p95:.0f}/{p99:.0f} ms)", reference,
                    f"{rate / engine_only:.2f}× engine-only", target, met)
    say(f"HTTP Basic verifies the password (scrypt) on every request: {scrypt_ms:.0f} ms of CPU each here, "
        f"on {os.cpu_count()} cores shared by {WORKERS} workers, PostgreSQL and the clients")
