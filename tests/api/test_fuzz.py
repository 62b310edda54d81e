"""Fuzz every operation of our own OpenAPI document in-process: never a 5xx, always as documented.

schemathesis generates valid and invalid requests from /api/v1/openapi.json and checks each answer:
no server error, a documented status and content type, a body matching the documented schema,
invalid data refused, and authentication enforced. Most valid requests are aimed at cases and
tasks that exist, so the fuzzing reaches the engine and not only the 404 path.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, reject, settings
from requests.structures import CaseInsensitiveDict
from schemathesis import DataGenerationMethod, GenerationConfig
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema
from sqlalchemy import select

import engine.passwords
import engine.users
from department.roles import ROLES
from engine.passwords import ScryptParams
from engine.store.models import TaskRow
from engine.users import create_user
from tests.api.conftest import REPAIR, basic, prepare
from tests.webui.conftest import make_app
from webui.extensions import db

FUZZER = "fuzzer"
PASSWORD = "fuzz-password-1"
MAX_EXAMPLES = 25
HAZARD = {"item": "alcohol", "quantity": 2, "purpose": "消毒", "location": "3F"}


@dataclass(frozen=True)
class Targets:
    """What exists in the fuzzed database: valid requests are mostly aimed at these."""

    instance_ids: tuple[int, ...]
    task_ids: tuple[str, ...]
    keys: tuple[str, ...]


def seed(app: Flask) -> None:
    """Prepare an app for fuzzing: processes, a user holding every role (so role checks pass), a few cases."""
    prepare(app)
    with app.app_context():
        create_user(db.session, FUZZER, PASSWORD, list(ROLES))
        db.session.commit()
    client = app.test_client()
    starts = [("cs_assistant", "repair_dispatch", REPAIR)] * 3
    starts.append(("cs_foreman", "hazardous_goods_issuance", HAZARD))
    for user, key, data in starts:
        response = client.post("/api/v1/process-instances", headers=basic(user),
                               json={"process_key": key, "data": data})
        assert response.status_code == 201


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, compiled_translations: Path) -> Iterator[Flask]:
    """A seeded app on SQLite."""
    tmp = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine.passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))
        app = make_app(f"sqlite:///{tmp}/fuzz.sqlite", compiled_translations, tmp, mp)
        seed(app)
        yield app
        db.dispose(app)


def existing(app: Flask) -> Targets:
    """List the seeded cases and their tasks."""
    with app.app_context():
        rows = db.session.execute(select(TaskRow.id, TaskRow.instance_id)).all()
    return Targets(tuple(sorted({i for _t, i in rows})), tuple(sorted(t for t, _i in rows)),
                   ("repair_dispatch", "complaint_handling", "sealed_key_usage", "hazardous_goods_issuance"))


def load_schema(app: Flask) -> BaseOpenAPISchema:
    """Load the app's own OpenAPI document, for valid and invalid data."""
    return schemathesis.from_wsgi(
        "/api/v1/openapi.json", app,
        data_generation_methods=[DataGenerationMethod.positive, DataGenerationMethod.negative],
        # We send real credentials ourselves; generated ones would only ever be wrong.
        generation_config=GenerationConfig(with_security_parameters=False))


@pytest.fixture(scope="module")
def targets(fuzz_app: Flask) -> Targets:
    """What the SQLite fuzz run aims at."""
    return existing(fuzz_app)


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> BaseOpenAPISchema:
    """The document the SQLite fuzz run generates from."""
    return load_schema(fuzz_app)


schema = schemathesis.from_pytest_fixture("api_schema")


def _pick(choices: tuple[Any, ...], generated: Any) -> Any | None:
    """Map a generated value onto an existing one three times in four, deterministically."""
    digest = zlib.crc32(str(generated).encode("utf-8", "replace"))
    return None if digest % 4 == 0 or not choices else choices[digest % len(choices)]


def aim_at_existing(case: schemathesis.Case, targets: Targets) -> None:
    """Point a valid request's path at a case, task or process that exists."""
    params = case.path_parameters or {}
    for name, choices in (("instance_id", targets.instance_ids), ("task_id", targets.task_ids),
                          ("key", targets.keys)):
        if name in params:
            chosen = _pick(choices, params[name])
            if chosen is not None:
                params[name] = chosen


def representable(case: schemathesis.Case) -> bool:
    """Tell whether a negative case survives serialization (an empty list in a query string vanishes)."""
    return not any(value == [] for value in (case.query or {}).values())


# No shrinking: a failure is reported as found, which keeps the run bounded even when red.
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


def check_case(case: schemathesis.Case, targets: Targets) -> None:
    """Send one generated request as the fuzzer and run every schemathesis check on the answer."""
    # schemathesis 3.39's ignored-auth check writes into these and fails on None.
    case.headers = case.headers or CaseInsensitiveDict()
    case.cookies = case.cookies or {}
    if case.media_type == "multipart/form-data" and not isinstance(case.body, dict):
        reject()  # schemathesis cannot serialize a non-object multipart body (it crashes)
    if case.data_generation_method == DataGenerationMethod.positive:
        aim_at_existing(case, targets)
    auth = basic(FUZZER, PASSWORD)
    response = case.call_wsgi(headers=auth)
    assert response.status_code < 500, response.get_data(as_text=True)
    excluded = () if representable(case) else (negative_data_rejection,)
    # Passing the credentials lets the ignored-auth check resend without them (and with wrong ones).
    case.validate_response(response, headers=auth, transport_kwargs={"headers": auth},
                           excluded_checks=excluded)


@schema.parametrize()
@FUZZ_SETTINGS
def test_operation_never_fails_and_answers_as_documented(case: schemathesis.Case, targets: Targets) -> None:
    check_case(case, targets)
