"""The unit of work's context: clock, actor, session and the functions BPMN code may call."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from engine import domain
from engine.calendar import BusinessCalendar, minutes_after, parse_moment, working_hours_after
from engine.errors import ProcessFailure
from engine.sandbox.budget import UnitBudget
from engine.sandbox.scripting import SandboxEnvironment
from engine.spiff.script_engine import SandboxScriptEngine
from engine.store.models import ProcessInstance

# Per process key: the domain it was worked out for, the services the process may call and stand-ins
# refusing the others. They do not depend on the unit: worked out per unit, they were a fifth of
# loading a cached workflow.
_ACCESS: dict[str, tuple[domain.Domain, frozenset[str], dict[str, Callable[..., Any]]]] = {}


def _service_access(served: domain.Domain, key: str) -> tuple[frozenset[str], dict[str, Callable[..., Any]]]:
    """Return the services a process may call and, for each other service, a stand-in refusing the call."""
    found = _ACCESS.get(key)
    if found is None or found[0] is not served:
        allowed = frozenset(name for name in served.services if served.may_call(key, name))
        refusals = {name: _refusal(served, key, name) for name in served.services if name not in allowed}
        found = _ACCESS[key] = (served, allowed, refusals)
    return found[1], found[2]


def _refusal(served: domain.Domain, key: str, name: str) -> Callable[..., Any]:
    """Return a stand-in for a service the process may not call."""
    # Deploy refuses such a call already; this holds for versions deployed before the binding.
    def call(*args: Any, **kwargs: Any) -> Any:
        raise ProcessFailure(f"process '{key}' may not call '{name}': it is bound to "
                             f"{', '.join(sorted(served.service_processes[name]))}")
    return call


@dataclass
class StepContext:
    """Everything one unit of work on one instance shares."""

    session: Session
    instance: ProcessInstance
    actor: str
    now: datetime
    calendar: BusinessCalendar
    task: Any = None  # the Spiff task being run, for service operations that read its data
    service_calls: list[dict[str, Any]] = field(default_factory=list)
    savepoint: Any = None  # opened by the running task's first write (engine.stepping closes it)
    roles_seen: dict[str, frozenset[str] | None] = field(default_factory=dict)  # see inbox.roles_in_unit
    budget: UnitBudget = field(default_factory=UnitBudget)  # shared by all the unit's sandboxed code
    # functions(), made at its first call: binding every domain service took longer than most expressions.
    _functions: dict[str, Callable[..., Any]] | None = field(default=None, init=False, repr=False)

    def before_write(self) -> None:
        """Open the running task's savepoint before its first write, so a failing script undoes it."""
        # Lazily: a savepoint per automatic step cost more than the rest of the step's SQL together.
        if self.task is not None and self.savepoint is None:
            self.savepoint = self.session.begin_nested()

    @property
    def instance_id(self) -> int:
        """Return the instance's id (service functions see ids, not rows)."""
        return self.instance.id

    def task_data(self) -> dict[str, Any]:
        """Return a copy of the running task's data (the instance's when no task runs)."""
        return dict(self.task.data) if self.task is not None else dict(self.instance.data or {})

    def functions(self) -> dict[str, Callable[..., Any]]:
        """Return the functions exposed to expressions and scripts: the engine's and the domain's."""
        # The same dict for the whole unit: every sandbox environment copies it (SandboxEnvironment).
        if self._functions is None:
            self._functions = self._bind_functions()
        return self._functions

    def _bind_functions(self) -> dict[str, Callable[..., Any]]:
        """Bind the engine's functions to this unit's clock and calendar, the domain's to this unit."""
        now, cal = self.now, self.calendar

        def iso(moment: datetime) -> str:
            return moment.isoformat()

        # Weakly: this context keeps these functions, and a context in a reference cycle is freed only by
        # the garbage collector, with all it holds (a third of the objects a unit left to it).
        unit = weakref.ref(self)

        def bound(service: domain.Service) -> Callable[..., Any]:
            # The script calls name(args); the service receives this unit of work first. A closure, not
            # functools.partial: a partial's public `args` would hand scripts this context.
            def call(*args: Any, **kwargs: Any) -> Any:
                ctx = unit()
                if ctx is None:  # a workflow kept past its unit runs under its next unit's script engine
                    raise ProcessFailure("a service was called after its unit of work ended")
                return service(ctx, *args, **kwargs)
            return call

        engine_functions: dict[str, Callable[..., Any]] = {
            "now": lambda: iso(now),
            "minutes": lambda n: iso(now + timedelta(minutes=float(n))),
            "hours": lambda n: iso(now + timedelta(hours=float(n))),
            "working_hours": lambda n: iso(cal.add_working_hours(now, float(n))),
            "next_working_morning": lambda: iso(cal.next_working_start(now)),
            "in_working_hours": lambda: cal.is_working_time(now),
            # Deadlines that name their anchor (e.g. the request's `started_at`), not the task's start.
            "minutes_after": lambda ts, n: minutes_after(parse_moment(ts), float(n)),
            "working_hours_after": lambda ts, n: working_hours_after(cal, parse_moment(ts), float(n)),
            "end_of_working_day": lambda ts: iso(cal.working_day_end(parse_moment(ts))),
        }
        served = domain.current()
        allowed, refusals = _service_access(served, self.instance.process_key)
        services = {name: bound(fn) if name in allowed else refusals[name]
                    for name, fn in served.services.items()}
        return {**engine_functions, **services}

    def script_engine(self) -> SandboxScriptEngine:
        """Return a sandboxed script engine whose clock is this unit of work's."""
        engine = SandboxScriptEngine(environment=SandboxEnvironment(functions=self.functions(),
                                                                       unit=self.budget))
        # The moment, not this context: a kept workflow holds its script engine until its next unit.
        now = self.now
        engine.clock = lambda: now
        return engine

    def evaluate(self, expression: str, data: dict[str, Any]) -> Any:
        """Evaluate an engine-side expression (assignee, role, form rules) in the sandbox."""
        env = SandboxEnvironment(functions=self.functions(), unit=self.budget)
        return env.evaluate(expression, dict(data))
