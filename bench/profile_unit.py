"""Where a unit of work's time goes: exclusive wall time per phase for repair_dispatch instances.

`python -m bench.profile_unit [--instances 60] [--pg]` runs instances start→closed through the engine
(as figure 1 does) with timers around each phase; a phase's time excludes the phases inside it,
"SQL at the driver" is the time inside the database driver for every statement, wherever it was sent,
and Python's garbage collections are a phase of their own, wherever they happened.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .common import (
    Database,
    bench_engine,
    engine_repair_instance,
    pg_database,
    prepare_repair,
    sqlite_database,
)


class PhaseClock:
    """Exclusive wall time per phase: entering a phase pauses the one it runs inside."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[tuple[str, float]] = []

    def enter(self, name: str) -> None:
        """Start a phase, pausing the current one."""
        now = time.perf_counter()
        if self.stack:
            outer, since = self.stack[-1]
            self.spent[outer] += now - since
        self.stack.append((name, now))

    def leave(self) -> None:
        """End the current phase, resuming the one it ran inside."""
        now = time.perf_counter()
        name, since = self.stack.pop()
        self.spent[name] += now - since
        if self.stack:
            outer, _ = self.stack[-1]
            self.stack[-1] = (outer, now)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block as one phase."""
        self.enter(name)
        try:
            yield
        finally:
            self.leave()


def _wrap(clock: PhaseClock, owner: Any, attr: str, name: str) -> Callable[[], None]:
    """Time every call of owner.attr as the phase `name`; return the undo."""
    real = getattr(owner, attr)
    # A static method stays static: wrapped plain, it would be handed the instance as first argument.
    stored = owner.__dict__.get(attr) if isinstance(owner, type) else None

    def timed(*args: Any, **kwargs: Any) -> Any:
        with clock.phase(name):
            return real(*args, **kwargs)

    setattr(owner, attr, staticmethod(timed) if isinstance(stored, staticmethod) else timed)
    return lambda: setattr(owner, attr, stored if stored is not None else real)


def profile(db: Database, instances: int) -> dict[str, float]:
    """Run `instances` repair instances with phase timers; return seconds per phase."""
    from SpiffWorkflow.task import Task
    from sqlalchemy.orm import Session

    import engine.runtime as runtime
    from engine.notify import outbox
    from engine.spiff.stepping import Stepper
    from engine.store import inbox, pending

    clock = PhaseClock()
    engine = bench_engine()
    prepare_repair(db, engine)
    for _ in range(3):
        engine_repair_instance(db, engine)
    undo = [
        _wrap(clock, runtime.Engine, "_task_and_lock", "lock + read instance and tasks (Core)"),
        _wrap(clock, runtime.Engine, "_validated", "form validation"),
        _wrap(clock, runtime, "load_state", "state load (deserialize)"),
        _wrap(clock, runtime, "dump_state_checked", "state dump (serialize)"),
        _wrap(clock, Stepper, "run", "automatic steps (engine's stepper)"),
        _wrap(clock, runtime, "sync_inbox", "inbox sync (ORM)"),
        _wrap(clock, Session, "flush", "ORM flush"),
        _wrap(clock, runtime, "write_rows", "instance, task and history writes (Core)"),
        _wrap(clock, runtime, "insert_instance", "instance insert (Core)"),
        _wrap(clock, outbox, "_record", "notifications (outbox)"),  # at commit, or as the rows are sent (PG)
        _wrap(clock, pending, "write_pending", "rows queued until commit (Core)"),
        _wrap(clock, Session, "commit", "commit"),
        _wrap(clock, runtime.Engine, "open_tasks", "client finding its next task"),
        _wrap(clock, runtime.Engine, "_load", "workflow from cache or spec"),
        _wrap(clock, runtime, "find_task", "finding the task in the workflow"),
        _wrap(clock, runtime.history, "changes", "history: what changed"),
        _wrap(clock, Session, "close", "session close"),
        _wrap(clock, runtime, "StepContext", "step context"),
        _wrap(clock, Task, "run", "Spiff running a task (user or automatic)"),
    ]
    del inbox  # imported so sync_inbox is wrapped where the runtime calls it
    # The driver's calls wrapped on this engine's dialect, not timed by cursor events: an engine with
    # event listeners runs SQLAlchemy's event dispatch around every statement, which the product does not.
    dialect = db.bind.dialect
    for attr in ("do_execute", "do_executemany", "do_execute_no_params"):
        _wrap(clock, dialect, attr, "SQL at the driver")

    def collecting(stage: str, _info: dict[str, int]) -> None:
        # A collection lands wherever an allocation crosses the threshold: a phase of its own, or a
        # change that moves it shifts time between phases that did not change.
        if stage == "start":
            clock.enter("garbage collection (Python's gc)")
        else:
            clock.leave()

    gc.callbacks.append(collecting)
    started = time.perf_counter()
    try:
        with clock.phase("other (façade, sessions, ORM glue)"):
            for _ in range(instances):
                engine_repair_instance(db, engine)
    finally:
        gc.callbacks.remove(collecting)
        for attr in ("do_execute", "do_executemany", "do_execute_no_params"):
            vars(dialect).pop(attr, None)
        for step in undo:
            step()
    clock.spent["total"] = time.perf_counter() - started
    return dict(clock.spent)


def main() -> None:
    """Print the split per instance, largest first."""
    from department.domain import register

    register()
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--instances", type=int, default=60)
    args.add_argument("--pg", action="store_true", help="PostgreSQL (BPM_BENCH_PG_URL) instead of SQLite")
    opts = args.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = pg_database() if opts.pg else sqlite_database(Path(tmp))
        with ctx as db:
            spent = profile(db, opts.instances)
    total = spent.pop("total")
    print(f"{'postgresql' if opts.pg else 'sqlite'}: {opts.instances} instances, "
          f"{total / opts.instances * 1000:.1f} ms per instance (6 units of work each)")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {seconds / opts.instances * 1000:6.2f} ms  {seconds / total:5.1%}")


if __name__ == "__main__":
    main()
