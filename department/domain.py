"""The department as the engine learns it: `register()` installs it; entry points call it at start-up."""

from __future__ import annotations

from pathlib import Path

from department.checks import hazard_ledger_balances
from department.functions import FUNCTIONS, SERVICE_PROCESSES
from department.keys import register_agrees as key_register_agrees
from department.kpis import compute_kpis
from department.retention import before_archive
from department.roles import FOREMAN_OR_ABOVE, OBSERVERS, ROLES, ROLES_ZH_HANS
from engine.domain import DemoAccount, Domain, Role, install

FOREMAN = "cs_foreman"
# Dispatchers hand their crews' tasks on (re-dispatch a late technician, another cleaner).
DISPATCHES = {"engineering_dispatcher": frozenset({"technician"}), "cleaning_foreman": frozenset({"cleaner"})}


def _roles() -> tuple[Role, ...]:
    """Return the roles of SPEC §1; ranks above foreman may act as foreman (領班級以上)."""
    return tuple(
        Role(role_id, ROLES_ZH_HANS[role_id], zh_hant, en,
             implies=frozenset({FOREMAN}) if role_id in FOREMAN_OR_ABOVE - {FOREMAN} else frozenset(),
             observer=role_id in OBSERVERS, dispatches=DISPATCHES.get(role_id, frozenset()))
        for role_id, (zh_hant, en) in ROLES.items())


def _demo_accounts() -> tuple[DemoAccount, ...]:
    """Return one demo account per role plus second hands for the separation-of-duty steps."""
    accounts: list[DemoAccount] = [(role, f"demo-{role}", (role,)) for role in ROLES]
    # Second people so separation-of-duty steps (two assistants and a guard at a sealed-key
    # opening, approver ≠ requester, a second technician) can be shown end to end.
    for username, role in (("cs_assistant2", "cs_assistant"), ("security_guard2", "security_guard"),
                           ("technician2", "technician"), ("cs_foreman2", "cs_foreman")):
        accounts.append((username, f"demo-{username}", (role,)))
    return tuple(accounts)


DOMAIN = Domain(
    name="department",
    roles=_roles(),
    services=FUNCTIONS,
    service_processes=SERVICE_PROCESSES,
    register_checks=(hazard_ledger_balances, key_register_agrees),
    demo_accounts=_demo_accounts(),
    kpis=compute_kpis,
    migrations=Path(__file__).resolve().parent / "migrations",
    before_archive=before_archive,
)
"""The customer-service department of a property-management company."""


def register() -> Domain:
    """Install this department as the domain the engine serves; return it."""
    return install(DOMAIN)
