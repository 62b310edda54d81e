"""The hostile and foreign corpora through `POST /api/v1/process-definitions`: 201/200/422, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

import engine.users
from engine.integrity import check_all
from engine.users import ScryptParams
from tests.api.conftest import Api, error_of, prepare
from tests.webui.conftest import make_app
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
        patch.setattr(engine.users, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))
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
    [(name, key)] = ACCEPTED.items()
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
