"""Migration and archive on PostgreSQL: row locks, bulk deletes and the archive's round trip."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from engine.archive import archive_finished, find_case
from engine.instance_migration import MigrationRequest, migrate_instances
from engine.integrity import check_all
from engine.runtime import Engine
from engine.store.models import ProcessInstance
from tests.conftest import T0, add_user
from tests.engine.test_instance_migration import open_row, version_1, version_2
from tests.pg import pg_schema, schema_bind

__all__ = ["pg_schema"]

pytestmark = pytest.mark.postgres


def test_cases_move_and_then_archive_on_postgresql(pg_schema: str, engine: Engine, tmp_path: Path) -> None:
    bind = schema_bind(pg_schema)
    try:
        with sessionmaker(bind)() as session:
            cs = add_user(session, "cs_assistant", "cs_assistant")
            admin = add_user(session, "admin", "admin")
            engine.deploy(session, version_1())
            moving = engine.start(session, "mig", {"unit": "A-1"}, cs).id
            ending = engine.start(session, "mig", {"unit": "B-2"}, cs).id
            engine.deploy(session, version_2())
            session.commit()
            report = migrate_instances(session, MigrationRequest("mig", 1, 2, instance_ids=[moving]), admin,
                                       dry_run=False, now=T0)
            assert report.moved == 1
            engine.terminate(session, ending, admin, "duplicate")
            session.commit()
            path = tmp_path / "pg.jsonl.gz"
            archived = archive_finished(session, path, T0 + timedelta(days=1), now=T0)
            assert archived.archived == 1
            assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 1
            record = find_case(path, ending)
            assert record is not None and record["instance"]["status"] == "terminated"
            assert open_row(session, moving).element_id == "check"
            assert check_all(session) == []
    finally:
        bind.dispose()
