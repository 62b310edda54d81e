"""Alembic migrations: a fresh upgrade equals the models, the first release's data upgrades cleanly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import inspect, select, text

from engine.calendar import BusinessCalendar
from engine.integrity import check_all
from engine.runtime import Actor, Engine
from engine.store import migrations
from engine.store.db import create_schema, make_engine, make_session_factory
from engine.store.models import ProcessInstance, TaskRow
from tests.conftest import PG_URL, T0
from tests.pg import pg_unreachable, schema_bind, skip_without_pg

from .first_release import REVISION, load_fixture, load_rows, upgrade_to_first_release


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_bind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlEngine]:
    """Yield an engine on an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        bind = make_engine(f"sqlite:///{tmp_path}/m.sqlite")
        yield bind
        bind.dispose()
        return
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): migrations NOT tested on PostgreSQL")
    with _pg_schema(f"bpm_m_{uuid.uuid4().hex[:12]}") as bind:
        yield bind


@contextmanager
def _pg_schema(schema: str) -> Iterator[SqlEngine]:
    """Yield an engine on a new PostgreSQL schema, dropped afterwards."""
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    bind = schema_bind(schema)
    try:
        yield bind
    finally:
        bind.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_first_release_is_one_revision() -> None:
    assert migrations.base_revision() == REVISION
    assert load_fixture()["revision"] == REVISION


def test_a_fresh_database_upgraded_to_head_matches_the_models(empty_bind: SqlEngine) -> None:
    assert migrations.init_database(empty_bind) == f"created at {migrations.head_revision()}"
    with empty_bind.connect() as conn:
        # Empty, or a model changed without a migration: add one (alembic revision --autogenerate).
        assert migrations.schema_diff(conn) == []
    assert migrations.current_revision(empty_bind) == migrations.head_revision()
    assert migrations.init_database(empty_bind).startswith("already at")


def test_downgrade_to_nothing_and_upgrade_again(empty_bind: SqlEngine) -> None:
    from alembic import command

    migrations.upgrade(empty_bind)
    with empty_bind.connect() as conn:
        command.downgrade(migrations.alembic_config(conn), "base")
        conn.commit()
    assert set(inspect(empty_bind).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(empty_bind)
    assert "process_instances" in inspect(empty_bind).get_table_names()


def test_upgrade_from_the_first_release_keeps_data_and_check_stays_clean(empty_bind: SqlEngine) -> None:
    fixture = load_fixture()
    upgrade_to_first_release(empty_bind)
    load_rows(empty_bind, fixture["tables"])
    migrations.init_database(empty_bind)
    assert migrations.current_revision(empty_bind) == migrations.head_revision()
    engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
    cases = fixture["cases"]
    with make_session_factory(empty_bind)() as session:
        assert check_all(session) == []
        statuses = dict(session.execute(select(ProcessInstance.id, ProcessInstance.status)).all())
        assert statuses[cases["completed"]] == "completed" and statuses[cases["failed"]] == "error"
        # Old instances keep working on the new schema: a deadline fires, a case is finished.
        assert engine.fire_timers(session, cases["waiting"], T0 + timedelta(minutes=16)) is True
        task = session.scalars(select(TaskRow).where(TaskRow.instance_id == cases["advanced"],
                                                     TaskRow.status == "open")).one()
        done = engine.complete(session, task.id, {"approved": True},
                               Actor("cs_manager", frozenset({"cs_manager"})))
        assert done.status == "completed"
        session.commit()
        assert check_all(session) == []


def test_init_db_stamps_a_database_made_by_create_all(empty_bind: SqlEngine) -> None:
    create_schema(empty_bind)
    assert migrations.init_database(empty_bind).startswith("existing tables match the models: stamped")
    assert migrations.current_revision(empty_bind) == migrations.head_revision()


def test_init_db_refuses_to_bless_a_database_that_differs_from_the_models(empty_bind: SqlEngine) -> None:
    create_schema(empty_bind)
    with empty_bind.begin() as conn:
        conn.execute(text("DROP INDEX ix_tasks_completed_by"))
    with pytest.raises(migrations.SchemaMismatch, match="ix_tasks_completed_by"):
        migrations.init_database(empty_bind)


INDEX_DEFINITIONS = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    "postgresql": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                  "AND tablename <> 'alembic_version'",
}


def _index_definitions(bind: SqlEngine) -> dict[str, str]:
    """Return each index's definition as the database states it, quotes and schema names left out."""
    with bind.connect() as conn:
        sqlite = bind.dialect.name == "sqlite"
        schema = "" if sqlite else conn.exec_driver_sql("SELECT current_schema()").scalar()
        rows = conn.exec_driver_sql(INDEX_DEFINITIONS[bind.dialect.name]).all()
    return {name: " ".join(sql.replace('"', "").replace(f"{schema}.", "").split()) for name, sql in rows}


def test_upgraded_indexes_are_the_models_indexes_predicates_included(empty_bind: SqlEngine,
                                                                      tmp_path: Path) -> None:
    # Alembic's comparison sees an index's columns, not a partial index's WHERE: compare the DDL itself.
    migrations.upgrade(empty_bind)
    if empty_bind.dialect.name == "sqlite":
        created = make_engine(f"sqlite:///{tmp_path}/created.sqlite")
        create_schema(created)
        expected = _index_definitions(created)
        created.dispose()
        assert _index_definitions(empty_bind) == expected
        return
    with empty_bind.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    other = f"{schema}_m"
    with _pg_schema(other) as created:
        create_schema(created)
        expected = {name: sql.replace(f"{other}.", "") for name, sql in _index_definitions(created).items()}
    assert _index_definitions(empty_bind) == expected


STORAGE_PARAMETERS = ("SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relnamespace = "
                      "current_schema()::regnamespace AND c.reloptions IS NOT NULL")


def _storage_parameters(bind: SqlEngine) -> dict[str, list[str]]:
    """Return the tables' and indexes' storage parameters (e.g. fillfactor) that differ from the defaults."""
    with bind.connect() as conn:
        return {name: sorted(options) for name, options in conn.exec_driver_sql(STORAGE_PARAMETERS).all()}


@pytest.mark.postgres
def test_upgraded_tables_have_the_models_storage_parameters() -> None:
    # Neither Alembic's comparison nor the index DDL shows a table's fill factor: compare pg_class itself.
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): storage parameters NOT compared")
    schema = f"bpm_m_{uuid.uuid4().hex[:12]}"
    with _pg_schema(schema) as upgraded, _pg_schema(f"{schema}_m") as created:
        migrations.upgrade(upgraded)
        create_schema(created)
        expected = _storage_parameters(created)
        assert expected["process_instances"] == ["fillfactor=70"]
        assert _storage_parameters(upgraded) == expected
