"""The one search box on PostgreSQL: Chinese names and phone numbers inside the JSON case data."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.runtime import Engine
from engine.store import queries
from tests.conftest import T0, add_user
from tests.pg import pg_schema, schema_bind
from tests.processes.helpers import deploy_all

__all__ = ["pg_schema"]

pytestmark = pytest.mark.postgres

REPAIR = {"channel": "phone", "reporter_name": "王先生", "contact_phone": "13800001111", "unit": "12F-1203",
          "description": "卫生间漏水", "category": "repair", "paid": "false"}


def test_q_finds_chinese_names_phones_units_and_case_numbers(pg_schema: str, engine: Engine) -> None:
    bind = schema_bind(pg_schema)
    try:
        with Session(bind) as session:
            assistant = add_user(session, "cs_assistant", "cs_assistant")
            manager = add_user(session, "cs_manager", "cs_manager")
            deploy_all(session, engine)
            first = engine.start(session, "repair_dispatch", REPAIR, assistant).id
            second = engine.start(session, "repair_dispatch", {**REPAIR, "reporter_name": "李女士",
                                                               "contact_phone": "13900002222",
                                                               "unit": "8F-801"}, assistant).id
            session.commit()
            for query, expected in (("李女士", [second]), ("王先生", [first]), ("0000222", [second]),
                                    ("8f-801", [second]), (f"{first:06d}", [first]), ("无此人", [])):
                found = queries.search_instances(session, manager, T0, q=query)
                assert [i.id for i in found.items] == expected, query
    finally:
        bind.dispose()
