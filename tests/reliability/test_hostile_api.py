"""The hostile and foreign corpora through `POST /api/v1/process-definitions`: 201/200/422, never a 500."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

import engine.passwords
import engine.users
from engine.integrity import check_all
from engine.passwords import ScryptParams
from tests.api.conftest import REPAIR, Api, error_of, prepare
from tests.webui.conftest import login, make_app
from webui.extensions import db

from .test_hostile_bpmn import ACCEPTED, FAILS_AT_RUN, HOSTILE, MIWG, REFUSED

# Problems follow Accept-Language (default zh); the reasons below are matched in English.
XML = {"Content-Type": "application/xml", "Accept-Language": "en"}
# The API checks the encoding before the engine sees the file.
API_REASONS = {"binary_garbage.bpmn": ("must be UTF-8 encoded", None),
               "wrong_encoding.bpmn": ("must be UTF-8 encoded", None)}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, compiled_translations: Path) -> Iterator[Flask]:
    """Yield one app for the module: a refused upload changes nothing, so files can share it."""
    tmp = tmp_path_factory.mktemp("hostile_api")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))
        app = make_app(f"sqlite:///{tmp}/api.sqlite", compiled_translations, tmp, patch)
        prepare(app)
        yield app
        db.dispose(app)


@pytest.fixture
def api(app: Flask) -> Api:
    """Return the JSON/Basic helper on a fresh client."""
    return Api(app.test_client())


def _deploy(api: Api, path: Path) -> tuple[int, dict[str, object]]:
    response = api.call("POST", f"/process-definitions?filename={path.name}", "process_owner",
                        data=path.read_bytes(), headers=XML)
    body = response.get_json()
    assert isinstance(body, dict), response.get_data(as_text=True)[:300]
    return response.status_code, body


def _keys(api: Api) -> set[str]:
    return {p["key"] for p in api.ok("GET", "/process-definitions?per_page=100", "admin")["items"]}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_upload_is_422_with_the_reason_under_its_element(api: Api, name: str) -> None:
    before = _keys(api)
    response = api.call("POST", f"/process-definitions?filename={name}", "process_owner",
                        data=(HOSTILE / name).read_bytes(), headers=XML)
    assert response.status_code == 422
    error = error_of(response)
    words, element = API_REASONS.get(name) or REFUSED[name]
    reasons = error["fields"].get(element or "bpmn", [])
    assert any(words in r for r in reasons), error["fields"]
    assert _keys(api) == before


# The endless loop of automatic steps uses up the engine's step or time budget (up to 5 s);
# test_hostile_bpmn proves it.
@pytest.mark.parametrize("name", sorted(set(FAILS_AT_RUN) - {"run_endless_loop_of_steps.bpmn"}))
def test_runaway_upload_deploys_and_its_instance_ends_in_error_alone(api: Api, app: Flask, name: str) -> None:
    status, body = _deploy(api, HOSTILE / name)
    assert status == 201 and body["process_key"] == "hostile"
    bystander = api.start_repair()
    started = api.call("POST", "/process-instances", "cs_assistant", {"process_key": "hostile", "data": {}})
    assert started.status_code == 201, started.get_data(as_text=True)
    instance = started.get_json()
    words, _element = FAILS_AT_RUN[name]
    assert instance["status"] == "error" and words in instance["error"]["message"]
    after = api.ok("GET", f"/process-instances/{bystander['id']}", "admin")
    assert after["status"] == "running" and after["open_tasks"] == bystander["open_tasks"]
    with app.app_context():
        assert check_all(db.session) == []


def test_markup_titles_are_accepted_as_text(api: Api) -> None:
    name = "ok_markup_in_titles.bpmn"
    key = ACCEPTED[name]
    status, body = _deploy(api, HOSTILE / name)
    assert status == 201 and body["process_key"] == key
    again, body = _deploy(api, HOSTILE / name)
    assert again == 200 and body["created"] is False
    xml = api.get(f"/process-definitions/{key}/xml", "admin").get_data(as_text=True)
    assert "&lt;script&gt;" in xml


@pytest.mark.skipif(not MIWG.is_dir(), reason=f"foreign corpus not found at {MIWG}")
@pytest.mark.parametrize("path", sorted(MIWG.glob("*.bpmn")), ids=lambda p: p.name)
def test_foreign_upload_is_deployed_or_refused_with_reasons(api: Api, path: Path) -> None:
    before = _keys(api)
    status, body = _deploy(api, path)
    assert status in (201, 422), body
    if status == 422:
        assert body["error"] == "invalid_bpmn" and body["fields"]
        assert _keys(api) == before


def test_a_body_over_the_request_limit_is_refused_without_a_500(api: Api) -> None:
    response = api.call("POST", "/process-definitions", "process_owner", data=b"<" * (9 * 1024 * 1024),
                        headers=XML)
    assert response.status_code == 413
    assert response.get_json()["error"]


# Text no database can store: a lone surrogate (\ud800 escaped in JSON) and NUL.
UNSTORABLE = ("\ud800", "a\udfffb", "a\x00b")


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/process-instances", {"process_key": "repair_dispatch", "data": {**REPAIR, "description": "{bad}"}},
     "data.description"),
    ("/process-instances", {"process_key": "repair_dispatch", "data": {**REPAIR, "{bad}": "x"}},
     "data.{bad}"),
    ("/process-instances", {"process_key": "repair_{bad}", "data": REPAIR}, "process_key"),
    ("/registers/hazardous-goods/stock-in", {"item": "alcohol", "quantity": 1, "note": "{bad}"}, "note"),
])
def test_unstorable_text_in_any_json_field_is_422_naming_the_field(
        api: Api, bad: str, path: str, body: dict[str, object], field: str) -> None:
    sent = json.loads(json.dumps(body).replace("{bad}", json.dumps(bad)[1:-1]))
    response = api.call("POST", path, "cs_foreman" if "stock" in path else "cs_assistant", sent)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] == "invalid_data"
    shown = field.replace("{bad}", re.sub("[\x00\ud800-\udfff]", "?", bad))  # keys are named readably
    where = response.get_json()["fields"]
    for part in shown.split("."):  # nested like every other field error: {"data": {"description": …}}
        assert part in where, response.get_json()
        where = where[part]
    assert "lone surrogate" in where[0]


@pytest.mark.parametrize("bad", ["%00", "%ED%A0%80"])
def test_unstorable_text_in_a_query_filter_is_never_a_500(api: Api, app: Flask, bad: str) -> None:
    response = api.call("GET", f"/tasks?scope=a{bad}b", "admin")
    assert response.status_code == 422 and "scope" in response.get_json()["fields"]
    client = app.test_client()
    login(client, "admin")
    page = client.get(f"/instances?q=a{bad}b")
    assert page.status_code in (200, 400), page.get_data(as_text=True)[:300]


def test_a_quantity_finer_than_the_ledger_is_refused_at_the_form_not_in_the_case(api: Api) -> None:
    hazard = {"item": "alcohol", "quantity": 0.0004, "purpose": "消毒", "location": "3F"}
    response = api.call("POST", "/process-instances", "cs_foreman",
                        {"process_key": "hazardous_goods_issuance", "data": hazard})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "quantity" in response.get_json()["fields"]


def test_a_stock_in_finer_than_the_ledger_is_422_naming_quantity(api: Api) -> None:
    response = api.call("POST", "/registers/hazardous-goods/stock-in", "cs_foreman",
                        {"item": "alcohol", "quantity": 1.0004, "note": ""})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert "decimal places" in str(response.get_json()["fields"]["quantity"])


def test_nul_in_a_web_form_field_is_a_friendly_400_and_starts_nothing(api: Api, app: Flask) -> None:
    before = api.ok("GET", "/process-instances?per_page=1", "admin")["total"]
    client = app.test_client()
    login(client, "cs_assistant")
    page = client.post("/start/repair_dispatch", data={**REPAIR, "paid": "false", "description": "a\x00b"})
    assert page.status_code == 400 and "description" in page.get_data(as_text=True)
    assert api.ok("GET", "/process-instances?per_page=1", "admin")["total"] == before
