"""Shared bench plumbing: result rows, databases, the repair_dispatch script, raw SpiffWorkflow."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.calendar import BusinessCalendar
from engine.runtime import Actor, Engine
from engine.spiff.parser import normalise_timer_expression
from engine.store.db import create_schema, make_engine, make_session_factory
from engine.store.models import User, UserRole
from engine.store.unit_of_work import run_unit

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
PG_URL = os.environ.get("BPM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class Row:
    """One line of the summary table."""

    figure: str
    engine: str
    raw: str
    ratio: str
    target: str
    met: str


@dataclass
class Results:
    """Rows gathered across figures, plus figures one bench hands to another."""

    rows: list[Row] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, figure: str, engine: str, raw: str, ratio: str, target: str, met: bool | str) -> None:
        """Append a row; a bool `met` prints as yes/NO."""
        shown = met if isinstance(met, str) else ("yes" if met else "NO")
        self.rows.append(Row(figure, engine, raw, ratio, target, shown))


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (nearest rank) of a list."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    """Return the median, NaN for nothing."""
    return statistics.median(values) if values else float("nan")


def say(message: str) -> None:
    """Print a detail line under the current figure."""
    print(f"  {message}", flush=True)


def heading(title: str) -> None:
    """Print a figure heading."""
    print(f"\n== {title}", flush=True)


def bench_engine() -> Engine:
    """Return an engine on the real clock and the default calendar without country holidays."""
    return Engine(calendar=BusinessCalendar(country=None))


# -- databases -----------------------------------------------------------------------------------
def pg_reachable(url: str = PG_URL) -> bool:
    """Tell whether the PostgreSQL server answers."""
    try:
        bind = create_engine(url, connect_args={"connect_timeout": 3})
        with bind.connect():
            pass
        bind.dispose()
        return True
    except Exception:
        return False


@dataclass
class Database:
    """A fresh, empty database holding the product schema."""

    name: str  # "sqlite" or "postgresql"
    url: str
    bind: SqlEngine
    factory: sessionmaker[Session]
    schema: str | None = None


@contextmanager
def sqlite_database(folder: Path, **engine_args: Any) -> Iterator[Database]:
    """Yield a fresh SQLite file database with the schema."""
    url = f"sqlite:///{folder}/bench-{uuid.uuid4().hex[:8]}.sqlite"
    bind = make_engine(url, **engine_args)
    create_schema(bind)
    try:
        yield Database("sqlite", url, bind, make_session_factory(bind))
    finally:
        bind.dispose()


@contextmanager
def pg_database(**engine_args: Any) -> Iterator[Database]:
    """Yield a fresh PostgreSQL schema holding the product tables; dropped afterwards."""
    schema = f"bpm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    bind = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, **engine_args)
    try:
        create_schema(bind)
        yield Database("postgresql", PG_URL, bind, make_session_factory(bind), schema)
    finally:
        bind.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def add_users(session: Session, names_roles: dict[str, str]) -> None:
    """Create users (username → one role) with an unusable password."""
    now = datetime.now(UTC)
    for name, role in names_roles.items():
        user = User(username=name, display_name=name, password_hash="!", created_at=now)
        user.roles = [UserRole(role=role)]
        session.add(user)
    session.flush()


# -- repair_dispatch, the lifecycle every figure drives ----------------------------------------------
REPAIR_KEY = "repair_dispatch"
REPAIR_FILE = PROCESSES / "repair_dispatch.bpmn"
REPAIR_ROLES = ("cs_assistant", "engineering_dispatcher", "technician", "area_foreman")
START_DATA: dict[str, Any] = {
    "channel": "phone", "reporter_name": "王先生", "contact_phone": "13800138000", "unit": "A-1203",
    "description": "洗手間水龍頭漏水", "category": "repair", "paid": False,
}
# The repair branch, fixed first time, customer satisfied: start plus five user tasks to `closed`.
STEPS: dict[str, tuple[str, dict[str, Any]]] = {
    "dispatch": ("engineering_dispatcher", {"trade": "plumbing", "technician": "technician",
                                            "substitute_repair": False}),
    "arrive_on_site": ("technician", {}),
    "repair": ("technician", {"result": "更換閥芯", "fixed": True}),
    "foreman_confirm": ("area_foreman", {"confirmed": True}),
    "callback": ("cs_assistant", {"satisfied": True, "callback_method": "phone", "comments": "滿意"}),
}
ACTORS = {role: Actor(role, frozenset({role})) for role in REPAIR_ROLES}


def prepare_repair(db: Database, engine: Engine) -> None:
    """Create the four users the repair path needs and deploy repair_dispatch."""
    with db.factory() as s:
        add_users(s, {r: r for r in REPAIR_ROLES})
        engine.deploy(s, REPAIR_FILE.read_bytes(), filename=REPAIR_FILE.name)
        s.commit()


def engine_repair_instance(db: Database, engine: Engine,
                           after_step: Callable[[Session, int, str], None] | None = None) -> int:
    """Take one repair_dispatch instance start→closed, one committed unit of work per step."""
    with db.factory() as s:
        # run_unit, as every caller of the façade: the commit writes the unit's notifications too.
        inst = run_unit(s, partial(engine.start, s, REPAIR_KEY, START_DATA, ACTORS["cs_assistant"])).unwrap()
        instance_id = inst.id
        if after_step:
            after_step(s, instance_id, "start")
        # The next task comes with the command's answer, as it does for raw Spiff's in-memory client.
        [first] = engine.open_tasks(s, instance_id)
    inst, _done = finish_repair(db, engine, first.id, first.element_id, after_step)
    if inst.status != "completed" or inst.outcome != "closed":
        raise RuntimeError(f"instance {instance_id} ended {inst.status}/{inst.outcome}, not completed/closed")
    return instance_id


def finish_repair(db: Database, engine: Engine, task_id: str, element: str,
                  after_step: Callable[[Session, int, str], None] | None = None) -> tuple[Any, int]:
    """Complete a repair case's tasks from a known one to the end, each next one taken from the answer."""
    done = 0
    while True:
        role, data = STEPS[element]
        with db.factory() as s:
            inst = run_unit(s, partial(engine.complete, s, task_id, data, ACTORS[role])).unwrap()
            done += 1
            if after_step:
                after_step(s, inst.id, element)
            left = engine.open_tasks(s, inst.id) if inst.status == "running" else []
        if not left:
            return inst, done
        task_id, element = left[0].id, left[0].element_id


# -- raw SpiffWorkflow: the same file, in memory, default script engine ---------------------------
def raw_xml(path: Path) -> bytes:
    """Return a BPMN file as plain SpiffWorkflow needs it: bare ISO timer literals quoted.

    Spiff evaluates timer expressions as Python, so `PT15M` must read `'PT15M'`; the product's parser
    does the same quoting, so both sides run the same timers.
    """
    root = etree.fromstring(path.read_bytes())
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            node.text = normalise_timer_expression(node.text)
    return bytes(etree.tostring(root))


def raw_functions(now: Callable[[], datetime]) -> dict[str, Callable[..., Any]]:
    """Return plain stand-ins for the functions our BPMN calls (raw Spiff has no business calendar)."""

    def iso(moment: datetime) -> str:
        return moment.isoformat()

    def moment(value: datetime | str) -> datetime:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)

    return {
        "now": lambda: iso(now()),
        "minutes": lambda n: iso(now() + timedelta(minutes=float(n))),
        "hours": lambda n: iso(now() + timedelta(hours=float(n))),
        # Wall-clock stand-in: the real calendar is the engine's cost, not Spiff's.
        "working_hours": lambda n: iso(now() + timedelta(hours=float(n))),
        "next_working_morning": lambda: iso(now() + timedelta(hours=12)),
        "in_working_hours": lambda: True,
        "minutes_after": lambda ts, n: iso(moment(ts) + timedelta(minutes=float(n))),
        "working_hours_after": lambda ts, n: iso(moment(ts) + timedelta(hours=float(n))),
        "end_of_working_day": lambda ts: iso(moment(ts) + timedelta(hours=8)),
    }


def raw_spec(path: Path, key: str) -> tuple[Any, dict[str, Any]]:
    """Parse a file with SpiffWorkflow's own BpmnParser; return (spec, subprocess specs)."""
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser

    parser = BpmnParser()
    parser.add_bpmn_str(raw_xml(path), filename=path.name)
    return parser.get_spec(key), parser.get_subprocess_specs(key)


def raw_script_engine() -> Any:
    """Return SpiffWorkflow's default PythonScriptEngine with the stand-in functions."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

    return PythonScriptEngine(environment=TaskDataEnvironment(raw_functions(lambda: datetime.now(UTC))))


def raw_ready_user_tasks(workflow: Any) -> list[Any]:
    """Return READY manual tasks the way a Spiff application finds them."""
    from SpiffWorkflow.util.task import TaskState

    return list(workflow.get_tasks(state=TaskState.READY, manual=True))


def raw_start(spec: Any, subprocess_specs: dict[str, Any], script_engine: Any, data: dict[str, Any]) -> Any:
    """Create a workflow, put the start data on the start task and run to the first user task."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
    for task in workflow.get_tasks(state=TaskState.READY):
        # As the engine does: deadlines name the request's moment (`minutes_after(started_at, 15)`).
        task.data.update({"started_at": datetime.now(UTC).isoformat(), **data})
    workflow.do_engine_steps()
    return workflow


def raw_complete(workflow: Any, task: Any, data: dict[str, Any]) -> None:
    """Complete a user task with data and run the automatic steps that follow."""
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()


def raw_repair_instance(spec: Any, subprocess_specs: dict[str, Any], script_engine: Any,
                        after_step: Callable[[Any, str], None] | None = None) -> Any:
    """Take one repair_dispatch workflow start→closed in memory with the same data as the engine."""
    workflow = raw_start(spec, subprocess_specs, script_engine, START_DATA)
    if after_step:
        after_step(workflow, "start")
    while not workflow.is_completed():
        ready = raw_ready_user_tasks(workflow)
        if not ready:
            raise RuntimeError("raw SpiffWorkflow stopped without a ready user task")
        task = ready[0]
        element = task.task_spec.bpmn_id
        raw_complete(workflow, task, STEPS[element][1])
        if after_step:
            after_step(workflow, element)
    from SpiffWorkflow.util.task import TaskState

    if not workflow.get_tasks(state=TaskState.COMPLETED, spec_name="end_closed"):
        raise RuntimeError("raw SpiffWorkflow did not end at end_closed")
    return workflow


# -- timing and the machine ---------------------------------------------------------------------
class Stopwatch:
    """Accumulate wall time of repeated sections."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @contextmanager
    def time(self) -> Iterator[None]:
        """Time one section."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.samples.append(time.perf_counter() - started)


def machine() -> dict[str, str]:
    """Describe the machine: cores, CPU, RAM, Python, SQLite, PostgreSQL, SpiffWorkflow."""
    import SpiffWorkflow

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    pg = "not reachable"
    if pg_reachable():
        bind = create_engine(PG_URL)
        with bind.connect() as conn:
            pg = str(conn.scalar(text("SHOW server_version")))
        bind.dispose()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "RAM": ram,
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": pg,
        "SpiffWorkflow": getattr(SpiffWorkflow, "__version__", "3.2"),
        "commit": commit or "?",
        "load average (1 min) at start": f"{os.getloadavg()[0]:.1f}",
    }
