"""Hostile load run: staff work the inbox (bench/load.py) while hostile clients interleave hostile BPMN
deploys and malformed requests; the promise is no 5xx at all and the staff's p95 under 1 s.

    python -m bench.hostile_load [--quick] [--staff 30] [--hostile 3] [--seconds 60] [--json PATH]

Loopback only; every hostile client stops after `--max-requests` requests or at the deadline, whichever
comes first. Exit 1 when a promise was broken; the report names each request that got a 5xx.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.load import (
    REPAIR,
    TIMEOUT,
    Service,
    Staff,
    books,
    fresh_database,
    percentile,
    prepare,
    staff_names,
    summarise,
    work_together,
)
from department.domain import register

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_FILES = sorted((ROOT / "tests" / "data" / "hostile").glob("*.bpmn"))
HOSTILE_ROLES = "cs_assistant process_owner"  # may deploy and start requests: payloads reach validation
VICTIM = "hostile_victim"  # the account wrong passwords are tried on (never one of the staff)
P95_LIMIT_MS = 1000.0
JSON = {"Content-Type": "application/json"}
HUGE = 9 * 1024 * 1024  # over the request limit


@dataclass
class Hostile:
    """A hostile client: one signed-in session sending bad requests, tallying what came back."""

    base: str
    username: str  # one account each: a second sign-in of the same account would not be this client's
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # "kind request → status: answer" for each 5xx
    staff: Staff | None = None

    def sign_in(self) -> None:
        """Sign in through the form like the staff do (session cookie and CSRF token)."""
        self.staff = Staff(self.base, self.username, HOSTILE_ROLES)
        self.staff.sign_in()

    def send(self, kind: str, method: str, path: str, *, auth: tuple[str, str] | None = None,
             **kwargs: Any) -> int:
        """Send one request (signed in unless `auth` is given); record its status (0: no answer)."""
        assert self.staff is not None
        http = requests if auth is not None else self.staff.http
        try:
            answer = http.request(method, f"{self.base}{path}", auth=auth, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            self.statuses[(kind, 0)] += 1
            self.server_errors.append(f"{kind} {method} {path[:120]} → no answer: {exc}")
            return 0
        self.statuses[(kind, answer.status_code)] += 1
        if answer.status_code >= 500:
            self.server_errors.append(f"{kind} {method} {path[:120]} → {answer.status_code}: "
                                      f"{answer.text[:200]!r}")
        return answer.status_code

    def deploy(self) -> int:
        """Upload one file of the hostile corpus as a new process definition."""
        path = random.choice(HOSTILE_FILES)
        return self.send(f"deploy {path.name}", "POST", f"/api/v1/process-definitions?filename={path.name}",
                         data=path.read_bytes(), headers={"Content-Type": "application/xml"})

    def malformed_json(self) -> int:
        """Start a request with a JSON body cut off half-way."""
        return self.send("malformed json", "POST", "/api/v1/process-instances",
                         data=b'{"process_key": "repair_dispatch", "data": {"unit": ', headers=JSON)

    def surrogate(self) -> int:
        """Start a request whose free text holds a lone surrogate code point (valid JSON, invalid text)."""
        body = json.dumps({"process_key": "repair_dispatch", "data": {**REPAIR, "description": "漏水\ud800"}})
        return self.send("lone surrogate", "POST", "/api/v1/process-instances", data=body.encode(),
                         headers=JSON)

    def huge(self) -> int:
        """Send a body over the request limit."""
        return self.send("huge body", "POST", "/api/v1/process-instances", data=b"[" * HUGE, headers=JSON)

    def wrong_password(self) -> int:
        """Guess a password over HTTP Basic on an account of its own."""
        guess = f"guess-{random.random()}"
        return self.send("wrong password", "GET", "/api/v1/tasks", auth=(VICTIM, guess))

    def nul_search(self) -> int:
        """Search the instance list for text with a NUL in it."""
        return self.send("nul search", "GET", "/instances?q=a%00b&unit=%00")

    def bad_arguments(self) -> int:
        """List tasks with arguments out of range and of the wrong type."""
        return self.send("bad arguments", "GET", "/api/v1/tasks?scope=everyone&per_page=-1&instance_id=x")

    def attack(self, deadline: float, max_requests: int, pause: float) -> None:
        """Interleave the hostile requests until the deadline or `max_requests`, one every `pause` s."""
        moves: list[Callable[[], int]] = [self.deploy, self.deploy, self.malformed_json, self.surrogate,
                                          self.huge, self.wrong_password, self.nul_search, self.bad_arguments]
        for n in range(max_requests):
            if time.monotonic() >= deadline:
                return
            move = moves[n] if n < len(moves) else random.choice(moves)  # each kind at least once
            move()
            time.sleep(pause)


@dataclass
class HostileResult:
    """What a hostile load run measured."""

    staff: int
    hostile: int
    seconds: float
    summary: dict[str, Any]  # the staff's requests (bench.load.summarise)
    books: dict[str, Any]
    hostile_statuses: dict[str, int]
    server_errors: list[str]  # every 5xx (hostile and staff), with the request that caused it
    p50_ms: float
    p95_ms: float

    @property
    def problems(self) -> list[str]:
        """Return every broken promise; empty when the run was clean."""
        s, b = self.summary, self.books
        found = [f"5xx: {line}" for line in self.server_errors]
        if s["server_errors"] and not any("staff" in line for line in self.server_errors):
            found.append(f"{s['server_errors']} staff requests got a 5xx: {s['surprises']}")
        if s["connection_errors"]:
            found.append(f"{s['connection_errors']} staff requests got no answer")
        if s["unexpected"]:
            found.append(f"staff got unexpected statuses {s['unexpected']}: {s['surprises'][:5]}")
        if b["lost"] or b["doubled"] or b["unacknowledged"] or b["findings"]:
            found.append(f"books: lost {b['lost'][:3]}, doubled {b['doubled'][:3]}, "
                         f"unacknowledged {b['unacknowledged'][:3]}, findings {b['findings'][:3]}")
        if self.p95_ms >= P95_LIMIT_MS:
            found.append(f"staff p95 {self.p95_ms:.0f} ms ≥ {P95_LIMIT_MS:.0f} ms")
        return found


def run(staff: int = 30, hostile: int = 3, seconds: float = 60.0, max_requests: int = 2000,
        pause: float = 0.05, workers: int = 2) -> HostileResult:
    """Prepare a fresh PostgreSQL schema and gunicorn, run staff and hostile clients together, tally."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database("postgresql", Path(tmp)) as url:
        names = staff_names(staff)
        owners = [f"hostile_owner_{n}" for n in range(hostile)]
        prepare(url, {**names, **dict.fromkeys(owners, HOSTILE_ROLES), VICTIM: "cs_assistant"})
        service = Service("gunicorn", url, Path(tmp), workers=workers)
        service.start()
        try:
            crew = [Staff(service.base, name, role) for name, role in names.items()]
            attackers = [Hostile(service.base, owner) for owner in owners]
            technicians = [name for name, role in names.items() if role == "technician"]
            elapsed = work_together(crew, technicians, seconds, attackers,
                                    lambda a, deadline: a.attack(deadline, max_requests, pause))
        finally:
            service.stop()
        summary = summarise(crew, elapsed)
        statuses: Counter[tuple[str, int]] = Counter()
        for a in attackers:
            statuses.update(a.statuses)
        errors = [line for a in attackers for line in a.server_errors]
        errors += [f"staff {line}" for line in summary["surprises"] if "→ 5" in line]
        latencies = [v for m in crew for values in m.latency.values() for v in values]
        return HostileResult(len(crew), hostile, elapsed, summary, books(url, crew),
                             {f"{k} {c}": n for (k, c), n in sorted(statuses.items())}, errors,
                             percentile(latencies, 0.5) * 1000, percentile(latencies, 0.95) * 1000)


def _kind(key: str) -> str:
    """Group per-file deploy tallies under one kind for the report."""
    kind, status = key.rsplit(" ", 1)
    return f"{'deploy' if kind.startswith('deploy ') else kind} {status}"


def report(result: HostileResult) -> str:
    """Return the run as a few lines."""
    s, b = result.summary, result.books
    grouped: Counter[str] = Counter()
    for key, n in result.hostile_statuses.items():
        grouped[_kind(key)] += n
    lines = [f"hostile load: {result.staff} staff + {result.hostile} hostile clients "
             f"for {result.seconds:.0f} s, gunicorn on postgresql",
             f"  staff requests {s['requests']} ({s['per_second']:.0f}/s), p50 {result.p50_ms:.0f} ms, "
             f"p95 {result.p95_ms:.0f} ms; completions {b['acknowledged']} / recorded {b['recorded']}",
             f"  hostile requests {sum(grouped.values())}: "
             + ", ".join(f"{k} ×{n}" for k, n in sorted(grouped.items())),
             f"  5xx {len(result.server_errors)}"]
    lines.extend(f"  ! {line}" for line in result.problems)
    lines.append("  RESULT: " + ("clean" if not result.problems else "PROBLEMS (see above)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the hostile load from the command line; exit 1 when a promise was broken."""
    register()
    parser = argparse.ArgumentParser(prog="python -m bench.hostile_load", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 staff + 2 hostile clients for 10 s")
    parser.add_argument("--staff", type=int, default=30)
    parser.add_argument("--hostile", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=2000, help="per hostile client")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    staff, hostile, seconds = (10, 2, 10.0) if args.quick else (args.staff, args.hostile, args.seconds)
    result = run(staff, hostile, seconds, args.max_requests)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps({**asdict(result), "problems": result.problems}, indent=1,
                                        ensure_ascii=False), encoding="utf-8")
    return 0 if not result.problems else 1


if __name__ == "__main__":
    sys.exit(main())
