"""The unit of work's context: clock, actor, session and the functions BPMN code may call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from department import services
from engine.calendar import BusinessCalendar
from engine.sandbox.scripting import SandboxEnvironment, SandboxScriptEngine
from engine.store.models import ProcessInstance


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

    def before_write(self) -> None:
        """Open the running task's savepoint before its first write, so a failing script undoes it."""
        # Lazily: a savepoint per automatic step cost more than the rest of the step's SQL together.
        if self.task is not None and self.savepoint is None:
            self.savepoint = self.session.begin_nested()

    def _task_data(self) -> dict[str, Any]:
        """Return the running task's data."""
        return dict(self.task.data) if self.task is not None else dict(self.instance.data or {})

    def functions(self) -> dict[str, Callable[..., Any]]:
        """Return the functions exposed to expressions and scripts."""
        now, cal, session = self.now, self.calendar, self.session

        def iso(moment: datetime) -> str:
            return moment.isoformat()

        def ledger(kind: str) -> Callable[..., float]:
            def write(item: str, quantity: float, counterpart: str | None = None) -> float:
                self.before_write()
                data = self._task_data()
                line = services.ledger_write(
                    session, item=item, kind=kind, quantity=quantity, actor=self.actor, now=now,
                    instance_id=self.instance.id, counterpart=counterpart,
                    purpose=str(data.get("purpose", "")), location=str(data.get("location", "")))
                self.service_calls.append({"operation": f"ledger_{kind}", "item": item,
                                           "quantity": line.quantity, "balance": line.balance_after})
                return float(line.balance_after)
            return write

        def archive() -> bool:
            self.before_write()
            services.sealed_key_archive(session, self.instance.id, self._task_data(), self.actor, now)
            self.service_calls.append({"operation": "sealed_key_archive"})
            return True

        return {
            "now": lambda: iso(now),
            "minutes": lambda n: iso(now + timedelta(minutes=float(n))),
            "hours": lambda n: iso(now + timedelta(hours=float(n))),
            "working_hours": lambda n: iso(cal.add_working_hours(now, float(n))),
            "next_working_morning": lambda: iso(cal.next_working_start(now)),
            "in_working_hours": lambda: cal.is_working_time(now),
            "stock_balance": lambda item: services.stock_balance(session, item, lock=True),
            "ledger_issue": ledger("issue"),
            "ledger_return": ledger("return"),
            "sealed_key_archive": archive,
        }

    def script_engine(self) -> SandboxScriptEngine:
        """Return a sandboxed script engine whose clock is this unit of work's."""
        engine = SandboxScriptEngine(environment=SandboxEnvironment(functions=self.functions()))
        engine.clock = lambda: self.now
        return engine

    def evaluate(self, expression: str, data: dict[str, Any]) -> Any:
        """Evaluate an engine-side expression (assignee, role, form rules) in the sandbox."""
        env = SandboxEnvironment(functions=self.functions())
        return env.evaluate(expression, dict(data))
