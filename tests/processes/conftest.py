"""Fixtures for process scenarios: the shipped processes deployed, a scenario on the fixed clock."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.runtime import Actor, Engine
from tests.conftest import T0
from tests.pg import pg_schema  # re-exported: the concurrent-issue test runs on PostgreSQL
from tests.processes.helpers import Scenario, deploy_all


@pytest.fixture
def deployed(session: Session, engine: Engine) -> dict[str, int]:
    """Deploy processes/*.bpmn through Engine.deploy."""
    return deploy_all(session, engine)


@pytest.fixture
def sc(session: Session, engine: Engine, people: dict[str, Actor], deployed: dict[str, int]) -> Scenario:
    """Return a scenario driver starting at T0 (Monday 10:00 Asia/Shanghai)."""
    return Scenario(session, engine, people, T0)


__all__ = ["deployed", "pg_schema", "sc"]
