"""The fuzzing of test_fuzz on PostgreSQL, which refuses some input SQLite stores (NUL characters)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema
from sqlalchemy import text

import engine.passwords
import engine.users
from engine.passwords import ScryptParams
from engine.store.db import make_engine
from tests.api.conftest import REPAIR, basic
from tests.api.test_fuzz import FUZZ_SETTINGS, Targets, check_case, existing, load_schema, seed
from tests.conftest import PG_URL
from tests.pg import pg_unreachable, skip_without_pg
from tests.webui.conftest import login, make_app
from webui.extensions import db

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_app(tmp_path_factory: pytest.TempPathFactory, compiled_translations: Path) -> Iterator[Flask]:
    """A seeded app on a private PostgreSQL schema, dropped afterwards."""
    reason = pg_unreachable()
    if reason:
        skip_without_pg(f"POSTGRESQL UNREACHABLE at {PG_URL} ({reason}): "
                        "the API was NOT fuzzed on PostgreSQL")
    schema = f"bpm_t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    tmp = tmp_path_factory.mktemp("fuzz_pg")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(engine.passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))
            app = make_app(PG_URL, compiled_translations, tmp, mp,
                           BPM_ENGINE_OPTIONS={"connect_args": {"options": f"-csearch_path={schema}"}})
            seed(app)
            yield app
            db.dispose(app)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def pg_targets(pg_app: Flask) -> Targets:
    """What the PostgreSQL fuzz run aims at."""
    return existing(pg_app)


@pytest.fixture(scope="module")
def pg_api_schema(pg_app: Flask) -> BaseOpenAPISchema:
    """The document the PostgreSQL fuzz run generates from."""
    return load_schema(pg_app)


schema = schemathesis.from_pytest_fixture("pg_api_schema")


@schema.parametrize()
@FUZZ_SETTINGS
def test_operation_never_fails_on_postgresql(case: schemathesis.Case, pg_targets: Targets) -> None:
    check_case(case, pg_targets)


IMPOSSIBLE = [b"\x00:x", b"adm\x00in:demo-admin", b"\xff\xfe:x", b"ADMIN:demo-admin"]


@pytest.mark.parametrize("credentials", IMPOSSIBLE)
def test_impossible_usernames_are_401_not_a_database_error(pg_app: Flask, credentials: bytes) -> None:
    header = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
    response = pg_app.test_client().get("/api/v1/tasks", headers=header)
    assert response.status_code == 401


def test_nul_characters_are_422_on_postgresql(pg_app: Flask) -> None:
    client = pg_app.test_client()
    response = client.post("/api/v1/registers/hazardous-goods/stock-in", headers=basic("cs_foreman"),
                           json={"item": "alcohol", "quantity": 1, "note": "a\u0000b"})
    assert response.status_code == 422
    assert client.get("/api/v1/process-definitions/a%00b", headers=basic("admin")).status_code == 404


@pytest.mark.parametrize("bad", ["\ud800", "a\x00b"])
def test_unstorable_start_data_is_422_on_postgresql(pg_app: Flask, bad: str) -> None:
    response = pg_app.test_client().post(
        "/api/v1/process-instances", headers=basic("cs_assistant"),
        json={"process_key": "repair_dispatch", "data": {**REPAIR, "description": bad}})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "description" in response.get_json()["fields"]["data"]


def test_nul_in_a_web_search_filter_is_a_friendly_400_on_postgresql(pg_app: Flask) -> None:
    client = pg_app.test_client()
    login(client, "admin")
    page = client.get("/instances?q=a%00b")
    assert page.status_code == 400 and "q" in page.get_data(as_text=True)
