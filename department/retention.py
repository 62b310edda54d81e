"""What the department keeps of cases the engine archives: register links stay live, KPI tasks as facts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from department.kpis import keep_kpi_facts
from department.models import HazardLedgerLine, SealedKeyUse
from department.registers import INCIDENT_PROCESS
from engine.store.models import ProcessInstance


def before_archive(session: Session, instance_ids: list[int]) -> set[int]:
    """Keep the KPI facts of the cases leaving; return those the registers point at (they stay live)."""
    # The registers are permanent paper-form records read with their cases' data and approvals.
    held = set(session.scalars(select(HazardLedgerLine.instance_id)
                               .where(HazardLedgerLine.instance_id.in_(instance_ids))))
    held |= set(session.scalars(select(SealedKeyUse.instance_id)
                                .where(SealedKeyUse.instance_id.in_(instance_ids))))
    held |= set(session.scalars(select(ProcessInstance.id).where(
        ProcessInstance.id.in_(instance_ids), ProcessInstance.process_key == INCIDENT_PROCESS)))
    leaving = [i for i in instance_ids if i not in held]
    if leaving:
        keep_kpi_facts(session, leaving)
    return {int(i) for i in held if i is not None}
