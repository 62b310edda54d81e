"""Rows of a database made by the first release, frozen as JSON, so upgrades are tested with real data.

Regenerate only while the first release is unreleased (its one migration regenerated with it):
`python -m tests.reliability.first_release`. Later releases keep this file as it is: every future
migration must carry these rows forward and leave `bpm check` clean.
"""

from __future__ import annotations

import base64
import json
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import MetaData, func, insert, select, text

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "schema_r0001_data.json"
REVISION = "r0001"
# The first release's r0001 also created the department's register tables; that DDL now lives,
# unchanged, in the first revision of the department's branch.
REGISTERS_REVISION = "d0001"
SKIP = {"alembic_version"}


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        # SQLite hands back naive values; the product stores every moment in UTC.
        return {"$dt": (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$b64"}:
        return base64.b64decode(value["$b64"])
    if isinstance(value, dict) and set(value) == {"$dt"}:
        return datetime.fromisoformat(value["$dt"])
    return value


def upgrade_to_first_release(bind: SqlEngine) -> None:
    """Give an empty database the first release's schema and revision, register tables included."""
    from engine.store import migrations

    migrations.upgrade(bind, REGISTERS_REVISION)  # r0001, then the register tables
    with bind.begin() as conn:
        # What the first release recorded: r0001 alone, its register tables not yet a branch.
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": REVISION})


def dump_rows(bind: SqlEngine) -> dict[str, list[dict[str, Any]]]:
    """Return every row of every table, read through reflection (no dependency on today's models)."""
    meta = MetaData()
    meta.reflect(bind)
    out: dict[str, list[dict[str, Any]]] = {}
    with bind.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in SKIP:
                continue
            order = list(table.primary_key.columns)
            rows = conn.execute(select(table).order_by(*order)).mappings()
            out[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
    return out


def load_rows(bind: SqlEngine, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Insert frozen rows into a database at the first release's schema, parents first."""
    meta = MetaData()
    meta.reflect(bind)
    with bind.begin() as conn:
        for table in meta.sorted_tables:
            rows = tables.get(table.name)
            if not rows:
                continue
            conn.execute(insert(table), [{k: _decode(v) for k, v in row.items()} for row in rows])
            sequence = conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}) \
                if bind.dialect.name == "postgresql" and "id" in table.c else None
            if sequence:
                # Explicit ids do not move PostgreSQL's sequences; the next insert would collide.
                top = conn.scalar(select(func.max(table.c.id)))
                conn.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": top})


def load_fixture() -> dict[str, Any]:
    """Return the frozen fixture: {"revision", "cases", "tables"}."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def regenerate() -> None:
    """Build the fixture: schema at the first revision, the reliability scenario, dumped."""
    from department.roles import ROLES
    from engine.calendar import BusinessCalendar
    from engine.runtime import Engine
    from engine.store.db import make_engine, make_session_factory
    from tests.conftest import T0, add_user

    from .scenario import populate, scenario_may_issue

    with tempfile.TemporaryDirectory() as tmp:
        bind = make_engine(f"sqlite:///{tmp}/first.sqlite")
        upgrade_to_first_release(bind)
        with make_session_factory(bind)() as session:
            people = {role: add_user(session, role, role) for role in ROLES}
            people["cs_assistant2"] = add_user(session, "cs_assistant2", "cs_assistant")
            session.commit()
            engine = Engine(calendar=BusinessCalendar(country=None), clock=lambda: T0)
            with scenario_may_issue():
                cases = populate(session, engine, people)
        tables = dump_rows(bind)
        bind.dispose()
    FIXTURE.write_text(json.dumps({"revision": REVISION, "cases": asdict(cases), "tables": tables},
                                  ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({sum(len(r) for r in tables.values())} rows)")


if __name__ == "__main__":
    regenerate()
