"""The domain the engine serves, learnt by registration: roles, service functions, checks, demo accounts.

A department describes itself once in a `Domain` and its entry point (web app factory, `bpm`
command, worker, benchmarks, test fixtures) calls `install(domain)` at start-up; nothing is
registered on import. The engine then asks `current()`.

Why a process-wide registry rather than a `Domain` handed to every call: roles are consulted far
from any engine handle — the read queries the views call, account checks, deploy-time BPMN
validation, the form parser, the inbox projection, `bpm check` and Alembic's environment. Threading
one object through all of them would widen every signature of the read side for a value that never
changes while a process runs (one installation serves one department). Tests swap it with
`installed()`, which restores the previous domain.

The two system roles, `admin` and `process_owner`, are engine words: every domain must define them
(with its own titles), and admins always read every instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.orm import Session

from engine.actor import ADMIN

PROCESS_OWNER = "process_owner"
SYSTEM_ROLES = (ADMIN, PROCESS_OWNER)

# Names the engine itself gives expressions and scripts; a service function may not take one.
ENGINE_FUNCTIONS = frozenset({
    "now", "minutes", "hours", "working_hours", "next_working_morning", "in_working_hours",
    "minutes_after", "working_hours_after", "end_of_working_day",
})

DemoAccount = tuple[str, str, tuple[str, ...]]
"""(username, password, roles) of a demo account."""


class ServiceContext(Protocol):
    """What a service function sees of the unit of work that calls it."""

    session: Session
    actor: str
    now: datetime
    service_calls: list[dict[str, Any]]  # the log shown in history: append one entry per call

    @property
    def instance_id(self) -> int:
        """Return the calling instance's id."""

    def task_data(self) -> dict[str, Any]:
        """Return a copy of the running task's data."""

    def before_write(self) -> None:
        """Open the running task's savepoint; call it before the first database write."""


Service = Callable[..., Any]
"""A service function: called as `fn(context, *script_args)` with a `ServiceContext` first."""

RegisterCheck = Callable[[Session], list[str]]
"""A register check for `bpm check`: returns one readable message per inconsistency found."""


@dataclass(frozen=True)
class Role:
    """One staff role: its id (a BPMN lane name), titles, and what it may also act as."""

    id: str
    zh: str  # Simplified Chinese, as the zh UI shows it
    zh_hant: str  # Traditional Chinese
    en: str
    implies: frozenset[str] = frozenset()  # lower roles whose tasks this one may do
    observer: bool = False  # reads every instance and its history
    dispatches: frozenset[str] = frozenset()  # roles whose open tasks this one may hand to others

    def title(self, locale: str = "zh") -> str:
        """Return the title for a UI locale (zh → Simplified, zh_Hant → Traditional, else English)."""
        lang = locale.replace("-", "_").lower()
        if lang in ("zh_hant", "zh_tw", "zh_hk"):
            return self.zh_hant
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True)
class Domain:
    """Everything the engine needs to know about the department it serves."""

    name: str
    roles: tuple[Role, ...]
    services: Mapping[str, Service] = field(default_factory=dict)
    # Service name → the process keys whose scripts, conditions and form rules may call it; a
    # service not named here is open to every process (a read such as a stock balance).
    service_processes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    register_checks: tuple[RegisterCheck, ...] = ()
    demo_accounts: tuple[DemoAccount, ...] = ()
    kpis: Callable[..., Any] | None = None  # computes the department's KPI report for a period
    migrations: Path | None = None  # Alembic versions folder of the domain's own tables
    # Called (session, instance ids) in the unit of work that archives finished cases: keeps what the
    # domain's registers and KPIs need of them and returns the ids that must stay live.
    before_archive: Callable[[Session, list[int]], set[int]] | None = None
    _by_id: Mapping[str, Role] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {r.id: r for r in self.roles}
        problems = ["a role id appears twice"] if len(by_id) != len(self.roles) else []
        problems += [f"system role {r!r} is missing" for r in SYSTEM_ROLES if r not in by_id]
        problems += [f"role {r.id!r} implies unknown role {i!r}" for r in self.roles for i in r.implies
                     if i not in by_id]
        problems += [f"service {n!r} would hide an engine function" for n in self.services
                     if n in ENGINE_FUNCTIONS]
        problems += [f"service_processes binds unknown service {n!r}" for n in self.service_processes
                     if n not in self.services]
        if problems:
            raise ValueError(f"domain {self.name!r}: " + "; ".join(problems))
        object.__setattr__(self, "services", MappingProxyType(dict(self.services)))
        object.__setattr__(self, "service_processes", MappingProxyType(
            {n: frozenset(keys) for n, keys in self.service_processes.items()}))
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))

    def may_call(self, process_key: str, service: str) -> bool:
        """Tell whether code of this process may call the service (True for a service bound to none)."""
        allowed = self.service_processes.get(service)
        return allowed is None or process_key in allowed

    def refused_services(self, process_key: str, names: Iterable[str]) -> list[str]:
        """Return, sorted, the names that are services this process may not call."""
        return sorted({n for n in names if n in self.services and not self.may_call(process_key, n)})

    @property
    def role_ids(self) -> tuple[str, ...]:
        """Return the role ids in the domain's order."""
        return tuple(r.id for r in self.roles)

    def role(self, role_id: str) -> Role | None:
        """Return the role with this id, or None."""
        return self._by_id.get(role_id)

    def role_title(self, role_id: str, locale: str = "zh") -> str:
        """Return a role's title for a UI locale; an unknown id is shown as it is."""
        role = self.role(role_id)
        return role.title(locale) if role is not None else role_id

    def is_known_role(self, role_id: str) -> bool:
        """Tell whether the id names one of the domain's roles."""
        return self.role(role_id) is not None

    def effective_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """Return held roles plus the ones they imply (a manager may do a foreman's task)."""
        held = frozenset(roles)
        implied = (r.implies for r in map(self.role, held) if r is not None)
        return held.union(*implied)

    def acting_as(self, role_id: str) -> frozenset[str]:
        """Return the roles whose holders may do a task of this role (itself and those implying it)."""
        return frozenset({role_id} | {r.id for r in self.roles if role_id in r.implies})

    def dispatched(self, roles: Iterable[str]) -> frozenset[str]:
        """Return the roles whose tasks holders of these roles may re-dispatch (a dispatcher's crews)."""
        return frozenset().union(*(r.dispatches for r in map(self.role, roles) if r is not None))

    @property
    def observers(self) -> frozenset[str]:
        """Return the roles that read every instance and its history (always including admin)."""
        return frozenset({ADMIN} | {r.id for r in self.roles if r.observer})


_installed: Domain | None = None


class DomainNotInstalled(RuntimeError):
    """The engine was used before an entry point installed its domain."""


def install(domain: Domain) -> Domain:
    """Make the domain the one the engine serves; return it."""
    global _installed
    _installed = domain
    return domain


def current() -> Domain:
    """Return the installed domain; raise DomainNotInstalled when no entry point installed one."""
    if _installed is None:
        raise DomainNotInstalled("no domain is installed: the entry point must call "
                                 "engine.domain.install() (e.g. department.domain.register())")
    return _installed


@contextmanager
def installed(domain: Domain) -> Iterator[Domain]:
    """Serve another domain inside the block, then restore the previous one (tests)."""
    global _installed
    previous = _installed
    _installed = domain
    try:
        yield domain
    finally:
        _installed = previous
