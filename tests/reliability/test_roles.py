"""Every role against every page and API action (the table below covers every route of the app), and the
separation-of-duty rules of SPEC §3 over HTTP: each refused."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import engine.passwords
import engine.users
from department.roles import ADMIN, FOREMAN_OR_ABOVE, OBSERVERS, PROCESS_OWNER, ROLES
from engine.passwords import ScryptParams
from tests.api.conftest import REPAIR, prepare
from tests.conftest import T0
from tests.webui.conftest import PASSWORDS, make_app
from webui.extensions import db

ALL = frozenset(ROLES)
EDITORS = frozenset({PROCESS_OWNER, ADMIN})
ADMINS = frozenset({ADMIN})
READERS = FOREMAN_OR_ABOVE | {ADMIN, "cleaning_foreman", "general_manager", "project_manager"}
# The key register (issue 13): its keepers and management.
KEY_READERS = FOREMAN_OR_ABOVE | {ADMIN, "general_manager", "project_manager", "cs_assistant",
                                  "engineering_dispatcher", "security_guard"}
STOCKERS = FOREMAN_OR_ABOVE
QUALITY_READERS = FOREMAN_OR_ABOVE | {ADMIN, "quality_specialist", "general_manager", "project_manager"}
CASE_READERS = READERS | {"cs_assistant"}  # the desk keeps the call/visit log and the complaint form
DISPATCHERS = frozenset({"engineering_dispatcher"})
# The repair instance below was started by cs_assistant and waits in `dispatch` (engineering_dispatcher):
# observers, its starter and the role with a task in it may read it; the task is for dispatchers.
SEES_INSTANCE = OBSERVERS | {"cs_assistant", "engineering_dispatcher"}
SEES_TASK = OBSERVERS | DISPATCHERS
STARTERS = frozenset({"cs_assistant"})  # pf:starters of repair_dispatch


@dataclass(frozen=True)
class Case:
    """One route: who may use it. `changes` routes are tried only by refused roles (nothing may change)."""

    method: str
    path: str
    allowed: frozenset[str]
    body: Any = None
    changes: bool = False

    @property
    def api(self) -> bool:
        """Tell whether this is an API route (Basic auth, JSON) rather than a page (form sign-in)."""
        return self.path.startswith("/api/")


def cases() -> list[Case]:
    """Return the table; {i}, {t} and {k} stand for the instance, its task and its process key."""
    api = "/api/v1"
    return [
        Case("GET", f"{api}/process-definitions", ALL),
        Case("POST", f"{api}/process-definitions", EDITORS, "xml", changes=True),
        Case("GET", f"{api}/process-definitions/{{k}}", ALL),
        Case("PUT", f"{api}/process-definitions/{{k}}", EDITORS, "xml", changes=True),
        Case("GET", f"{api}/process-definitions/{{k}}/xml", ALL),
        Case("GET", f"{api}/process-definitions/{{k}}/statistics", OBSERVERS | {PROCESS_OWNER}),
        Case("POST", f"{api}/process-definitions/{{k}}/migrations", EDITORS,
             {"from_version": 1, "to_version": 2}, changes=True),
        Case("POST", f"{api}/process-instances", STARTERS, {"process_key": "repair_dispatch", "data": REPAIR},
             changes=True),
        Case("GET", f"{api}/process-instances", ALL),
        Case("GET", f"{api}/process-instances/{{i}}", SEES_INSTANCE),
        Case("GET", f"{api}/process-instances/{{i}}/history", SEES_INSTANCE),
        Case("POST", f"{api}/process-instances/{{i}}/comments", SEES_INSTANCE, {"body": "x"}, changes=True),
        Case("GET", f"{api}/process-instances/{{i}}/comments", SEES_INSTANCE),
        Case("POST", f"{api}/process-instances/{{i}}/attachments", SEES_INSTANCE, {}, changes=True),
        Case("GET", f"{api}/process-instances/{{i}}/attachments", SEES_INSTANCE),
        Case("GET", f"{api}/process-instances/{{i}}/attachments/1", SEES_INSTANCE),
        *(Case("POST", f"{api}/process-instances/{{i}}/{a}", ADMINS, {}, changes=True)
          for a in ("suspend", "resume", "terminate", "retry")),
        Case("GET", f"{api}/registers/hazardous-goods", READERS),
        Case("POST", f"{api}/registers/hazardous-goods/stock-in", STOCKERS,
             {"item": "alcohol", "quantity": 1, "note": "x"}, changes=True),
        Case("GET", f"{api}/registers/sealed-keys", READERS),
        # issue 14: the quality registers
        *(Case("GET", f"{api}/registers/{path}", QUALITY_READERS)
          for path in ("anomalies", "anomalies/daily-analysis", "proposals", "surveys", "visits")),
        Case("GET", f"{api}/registers/keys", KEY_READERS),
        Case("GET", f"{api}/registers/key-loans", KEY_READERS),
        Case("GET", f"{api}/tasks", ALL),
        Case("GET", f"{api}/tasks?scope=all", OBSERVERS),
        Case("GET", f"{api}/tasks/{{t}}", SEES_TASK),
        Case("POST", f"{api}/tasks/{{t}}/claim", DISPATCHERS, {}, changes=True),
        Case("POST", f"{api}/tasks/{{t}}/complete", DISPATCHERS, {"data": {}}, changes=True),
        Case("POST", f"{api}/tasks/{{t}}/release", ADMINS, {}, changes=True),
        Case("POST", f"{api}/tasks/{{t}}/reassign", ADMINS | DISPATCHERS,
             {"assignee": "engineering_dispatcher"}, changes=True),
        Case("GET", f"{api}/kpis", OBSERVERS),
        Case("GET", f"{api}/kpis/cases?kpi=repair_timeliness", OBSERVERS),
        Case("GET", f"{api}/kpis/trend?months=2", OBSERVERS),
        *(Case("GET", f"{api}/registers/{name}", CASE_READERS)
          for name in ("complaints", "call-visit-log", "repair-work-orders")),
        Case("GET", f"{api}/registers/charge-backs", READERS),
        Case("GET", f"{api}/openapi.json", ALL),
        Case("GET", f"{api}/docs", ALL),
        Case("GET", "/", ALL),
        Case("GET", "/account/password", ALL),
        Case("POST", "/account/password", ALL, {}, changes=True),
        Case("GET", "/account/tokens", ALL),
        Case("POST", "/account/tokens", ALL, {}, changes=True),
        Case("POST", "/account/tokens/1/revoke", ALL, {}, changes=True),
        Case("GET", "/inbox", ALL),
        Case("GET", "/start", ALL),
        Case("GET", "/start/{k}", STARTERS),
        Case("POST", "/start/{k}", STARTERS, REPAIR, changes=True),
        Case("GET", "/instances", ALL),
        Case("GET", "/instances/{i}", SEES_INSTANCE),
        Case("GET", "/instances/{i}/diagram.json", SEES_INSTANCE),
        Case("POST", "/instances/{i}/notes", SEES_INSTANCE, {"body": "x"}, changes=True),
        *(Case("POST", f"/instances/{{i}}/{a}", ADMINS, {}, changes=True)
          for a in ("suspend", "resume", "terminate", "retry")),
        Case("GET", "/records/{i}", SEES_INSTANCE),
        Case("GET", "/records/hazardous-goods", READERS),
        Case("GET", "/figures", OBSERVERS),
        Case("GET", "/figures/cases.csv?kpi=repair_timeliness", OBSERVERS),
        Case("GET", "/models", EDITORS),
        Case("GET", "/models/new", EDITORS),
        Case("POST", "/models/new", EDITORS, {}, changes=True),
        Case("GET", "/models/{k}/edit", EDITORS),
        Case("GET", "/models/{k}/compare", EDITORS),
        Case("GET", "/models/{k}/versions/1", EDITORS),
        Case("GET", "/models/{k}/versions/1/xml", EDITORS),
        Case("GET", "/models/{k}/versions/1/statistics", EDITORS),
        Case("GET", "/models/{k}/migrate", EDITORS),
        Case("POST", "/models/{k}/migrate", EDITORS, {}, changes=True),
        Case("POST", "/models/{k}/check", EDITORS, {}, changes=True),
        Case("POST", "/models/{k}/deploy", EDITORS, {}, changes=True),
        Case("POST", "/models/{k}/save", EDITORS, {}, changes=True),
        Case("POST", "/models/{k}/discard", EDITORS, {}, changes=True),
        Case("POST", "/models/{k}/form-preview", EDITORS, {}, changes=True),
        Case("GET", "/registers", READERS),
        Case("GET", "/registers/hazardous-goods", READERS),
        Case("GET", "/registers/hazardous-goods.csv", READERS),
        Case("POST", "/registers/hazardous-goods/stock-in", STOCKERS, {"item": "alcohol", "quantity": "1"},
             changes=True),
        Case("GET", "/registers/sealed-keys", READERS),
        # issue 12: the case registers and the charge-backs as pages
        *(Case("GET", f"/registers/cases/{name}{ext}", CASE_READERS)
          for name in ("complaints", "call-visit-log", "repair-work-orders") for ext in ("", ".csv")),
        Case("GET", "/registers/charge-backs", READERS),
        Case("GET", "/registers/charge-backs.csv", READERS),
        Case("GET", "/quality", QUALITY_READERS),
        *(Case("GET", f"/quality/{path}", QUALITY_READERS)
          for path in ("anomalies", "anomalies/analysis", "proposals", "surveys", "visits")),
        Case("GET", "/registers/keys", KEY_READERS),
        Case("GET", "/records/key-loans", KEY_READERS),
        Case("GET", "/records/key-handovers", KEY_READERS),
        Case("GET", "/tasks/{t}", SEES_TASK),
        Case("GET", "/tasks/{t}/diagram.json", SEES_TASK),
        Case("POST", "/tasks/{t}", DISPATCHERS, {}, changes=True),
        Case("POST", "/tasks/{t}/claim", DISPATCHERS, {}, changes=True),
        Case("POST", "/tasks/{t}/release", ADMINS, {}, changes=True),
        Case("POST", "/tasks/{t}/reassign", ADMINS | DISPATCHERS, {"assignee": "engineering_dispatcher"},
             changes=True),
        Case("GET", "/notifications", ALL),
        Case("GET", "/notifications/badge", ALL),
        Case("POST", "/notifications/1/read", ALL, {}, changes=True),
        Case("POST", "/notifications/read-all", ALL, {}, changes=True),
        Case("POST", "/notifications/settings", ALL, {}, changes=True),
        Case("GET", "/notifications/admin", ADMINS),
        Case("POST", "/notifications/admin/webhooks", ADMINS, {}, changes=True),
        *(Case("POST", f"/notifications/admin/webhooks/1/{a}", ADMINS, {}, changes=True)
          for a in ("test", "disable", "enable")),
    ]


# Routes anyone may reach, signed in or not, or that only move the visitor around.
PUBLIC = {"/login", "/logout", "/language/<code>", "/static/<path:filename>",
          "/api/v1/docs/static/<path:filename>", "/start/started/<int:instance_id>"}


@dataclass
class World:
    """The app with one repair instance waiting for dispatch, and a signed-in client per role."""

    app: Flask
    instance: int
    task: str
    pages: dict[str, FlaskClient]


def basic(username: str) -> dict[str, str]:
    """Return the Basic header of a demo user."""
    raw = f"{username}:{PASSWORDS[username]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, compiled_translations: Path) -> Iterator[World]:
    """Build the app once: refused requests change nothing, so every role can share it."""
    tmp = tmp_path_factory.mktemp("roles")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.passwords, "SCRYPT", ScryptParams(n=2**4, r=8, p=1))
        app = make_app(f"sqlite:///{tmp}/roles.sqlite", compiled_translations, tmp, patch)
        prepare(app)
        client = app.test_client()
        started = client.post("/api/v1/process-instances", headers=basic("cs_assistant"),
                              json={"process_key": "repair_dispatch", "data": REPAIR})
        assert started.status_code == 201, started.get_data(as_text=True)
        body = started.get_json()
        # One attachment (a PNG by its signature) so its URL can be tried by every role.
        png = b"\x89PNG\r\n\x1a\n" + bytes(64)
        attached = client.post(f"/api/v1/process-instances/{body['id']}/attachments",
                               headers=basic("cs_assistant"), data={"file": (io.BytesIO(png), "p.png")},
                               content_type="multipart/form-data")
        assert attached.status_code == 201 and attached.get_json()["id"] == 1, attached.get_data(as_text=True)
        pages = {}
        for role in PASSWORDS:  # one per role, plus the second assistant, foreman, guard and technician
            pages[role] = app.test_client()
            signed = pages[role].post("/login", data={"username": role, "password": PASSWORDS[role]})
            assert signed.status_code == 302, role
        yield World(app, body["id"], body["open_tasks"][0]["id"], pages)
        db.dispose(app)


def send(world: World, case: Case, role: str | None) -> TestResponse:
    """Send one case as a role (None: nobody signed in)."""
    path = case.path.format(i=world.instance, t=world.task, k="repair_dispatch")
    if case.api:
        client = world.app.test_client()
        headers = basic(role) if role else {}
        if case.body == "xml":
            xml = (Path(__file__).resolve().parents[2] / "processes" / "repair_dispatch.bpmn").read_bytes()
            return client.open(path, method=case.method, data=xml,
                               headers={**headers, "Content-Type": "application/xml"})
        return client.open(path, method=case.method, json=case.body, headers=headers)
    client = world.pages[role] if role else world.app.test_client()
    return client.open(path, method=case.method, data=case.body)


def test_the_table_covers_every_route(world: World) -> None:
    covered = {(c.method, c.path.split("?")[0]) for c in cases()}
    missing = []
    for rule in world.app.url_map.iter_rules():
        if rule.rule in PUBLIC:
            continue
        template = _template(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for path in _expand(template):
                if (method, path) not in covered:
                    missing.append(f"{method} {rule.rule}")
    assert missing == [], "add these routes to the role table"


def _template(rule: str) -> str:
    """Turn a Flask rule into the table's notation."""
    rule = re.sub(r"<int[^>]*:instance_id>", "{i}", rule)
    rule = re.sub(r"<(uuid:)?task_id>", "{t}", rule)
    rule = re.sub(r"<[^>]*:key>|<key>", "{k}", rule)
    rule = re.sub(r"<int[^>]*:attachment_id>", "1", rule)
    return re.sub(r"<int:(number|token_id|delivery_id|channel_id)>", "1", rule)


def _expand(template: str) -> list[str]:
    """Expand `<any(a, b):action>` into one path per choice."""
    found = re.search(r"<any\(([^)]*)\):\w+>", template)
    if not found:
        return [template]
    choices = (choice.strip().strip('"') for choice in found.group(1).split(","))
    return [template.replace(found.group(0), choice) for choice in choices]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_reaches_exactly_what_it_may(world: World, role: str) -> None:
    wrong = []
    for case in cases():
        allowed = role in case.allowed
        if allowed and case.changes:
            continue  # proven by the positive tests below; a refused change must change nothing
        status = send(world, case, role).status_code
        if (allowed and status >= 400) or (not allowed and status != 403):
            wrong.append(f"{case.method} {case.path}: {status} (expected {'2xx/3xx' if allowed else 403})")
    assert wrong == []


def test_nobody_signed_in_is_sent_to_sign_in(world: World) -> None:
    wrong = []
    for case in cases():
        if case.path.endswith(("/openapi.json", "/docs")):
            continue
        status = send(world, case, None).status_code
        expected = 401 if case.api else 302
        if status != expected:
            wrong.append(f"{case.method} {case.path}: {status} (expected {expected})")
    assert wrong == []


# -- allowed state changes succeed for the roles the table allows -------------------------------------------
def api(world: World, method: str, path: str, role: str, body: Any = None) -> TestResponse:
    """Send one API request as a role."""
    return world.app.test_client().open(f"/api/v1{path}", method=method, json=body, headers=basic(role))


def start(world: World, key: str, data: dict[str, Any], role: str) -> dict[str, Any]:
    """Start an instance over the API and return it."""
    answer = api(world, "POST", "/process-instances", role, {"process_key": key, "data": data})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


def task_of(world: World, instance: dict[str, Any] | int, name: str) -> str:
    """Return the id of an instance's open task called `name`."""
    instance_id = instance if isinstance(instance, int) else instance["id"]
    detail = api(world, "GET", f"/process-instances/{instance_id}", "admin").get_json()
    [task] = [t["id"] for t in detail["open_tasks"] if t["name"] == name]
    return str(task)


def do(world: World, task: str, role: str, data: dict[str, Any], status: int = 200) -> TestResponse:
    """Complete a task over the API, asserting the answer's status."""
    answer = api(world, "POST", f"/tasks/{task}/complete", role, {"data": data})
    assert answer.status_code == status, answer.get_data(as_text=True)
    return answer


def test_allowed_roles_can_make_the_changes_the_table_guards(world: World) -> None:
    instance = start(world, "repair_dispatch", REPAIR, "cs_assistant")
    task = task_of(world, instance, "dispatch")
    assert api(world, "POST", f"/tasks/{task}/claim", "engineering_dispatcher", {}).status_code == 200
    assert api(world, "POST", f"/tasks/{task}/release", "admin", {}).status_code == 200
    assert api(world, "POST", f"/tasks/{task}/reassign", "admin",
               {"assignee": "engineering_dispatcher"}).status_code == 200
    do(world, task, "engineering_dispatcher", {"trade": "plumbing", "technician": "technician"})
    for action in ("suspend", "resume", "terminate"):
        answer = api(world, "POST", f"/process-instances/{instance['id']}/{action}", "admin", {})
        assert answer.status_code == 200, action
    for role in sorted(STOCKERS):
        answer = api(world, "POST", "/registers/hazardous-goods/stock-in", role,
                     {"item": "alcohol", "quantity": 5, "note": "入庫"})
        assert answer.status_code in (200, 201), (role, answer.get_data(as_text=True))


# -- separation of duty (SPEC §3), over the API and through the task page ------------------------------------
def test_the_requester_may_not_approve_hazardous_goods(world: World) -> None:
    request = start(world, "hazardous_goods_issuance",
                    {"item": "alcohol", "quantity": 2, "purpose": "消毒", "location": "大堂"}, "cs_foreman")
    approve = task_of(world, request, "approve")
    data = {"approved": True, "approved_quantity": 2}
    assert api(world, "POST", f"/tasks/{approve}/claim", "cs_foreman", {}).status_code == 403
    do(world, approve, "cs_foreman", data, status=403)
    page = world.pages["cs_foreman"].post(f"/tasks/{approve}",
                                          data={"approved": "true", "approved_quantity": "2"})
    assert page.status_code == 403
    assert task_of(world, request, "approve") == approve  # nothing moved
    do(world, approve, "cs_foreman2", data)


def seal(world: World, unit: str, seal_number: str) -> None:
    """Move a unit in through key_custody so a sealed-key use may start (issue 13's key register)."""
    case = start(world, "key_custody", {"unit": unit, "movement": "move_in", "customer_name": "陳先生"},
                 "cs_assistant")
    do(world, task_of(world, case, "handover_keys"), "cs_assistant", {
        "handover_form_number": "JJ-1", "unit_inspected": True, "keys_handed_over": 2, "keys_in_custody": 1,
        "custody_agreement_reference": "TG-1", "customer_signature": "陳先生"})
    do(world, task_of(world, case, "seal_keys"), "cs_assistant", {"seal_number": seal_number,
                                                                  "witness": "cs_assistant2"})
    do(world, task_of(world, case, "manager_sign"), "cs_manager", {})


def test_the_manager_who_asked_may_not_approve_a_sealed_key_use(world: World) -> None:
    seal(world, "15F-1511", "F-1511")
    application = {"unit": "15F-1511", "reason": "forgot_key", "customer_reachable": True,
                   "customer_can_attend": True, "application_reference": "SQ-1",
                   "description": "客戶忘帶鑰匙", "applicant_name": "王經理", "applicant_company": "宏達貿易"}
    case = start(world, "sealed_key_usage", application, "cs_manager")
    do(world, task_of(world, case, "confirm_with_unit_head"), "cs_assistant",
       {"unit_head_confirmed": True, "unit_head_name": "李總"})
    approval = task_of(world, case, "manager_approval")
    do(world, approval, "cs_manager", {"approved": True}, status=403)
    assert world.pages["cs_manager"].post(f"/tasks/{approval}", data={"approved": "true"}).status_code == 403
    assert task_of(world, case, "manager_approval") == approval


def test_two_sealed_key_witnesses_may_not_be_one_person(world: World) -> None:
    seal(world, "15F-1512", "F-1512")
    application = {"unit": "15F-1512", "reason": "emergency", "customer_reachable": False,
                   "customer_can_attend": False,
                   "description": "水管爆裂", "applicant_name": "王經理", "applicant_company": "宏達貿易"}
    case = start(world, "sealed_key_usage", application, "cs_assistant")
    do(world, task_of(world, case, "manager_request"), "cs_manager", {"request_note": "客戶聯繫不上"})
    do(world, task_of(world, case, "gm_approval"), "general_manager", {"approved": True})
    open_unit = task_of(world, case, "open_unit")
    opened = T0 + timedelta(minutes=30)
    witnesses = {"seal_number_before": "F-1512", "assistant_1": "cs_assistant", "assistant_2": "cs_assistant",
                 "security_guard": "security_guard", "opened_at": opened.isoformat(),
                 "closed_at": (opened + timedelta(minutes=20)).isoformat(), "actions_taken": "關閉總閥"}
    refused = do(world, open_unit, "cs_assistant", witnesses, status=422).get_json()
    assert set(refused["fields"]) == {"assistant_2"}
    assert task_of(world, case, "open_unit") == open_unit
    do(world, open_unit, "cs_assistant", {**witnesses, "assistant_2": "cs_assistant2"})


def test_a_technician_may_not_complete_a_customer_service_task(world: World) -> None:
    case = start(world, "repair_dispatch", {**REPAIR, "category": "consultation"}, "cs_assistant")
    guidance = task_of(world, case, "give_guidance")
    do(world, guidance, "technician", {"guidance": "關閉水閥"}, status=403)
    assert api(world, "POST", f"/tasks/{guidance}/claim", "technician", {}).status_code == 403
    assert world.pages["technician"].post(f"/tasks/{guidance}", data={"guidance": "x"}).status_code == 403
    assert task_of(world, case, "give_guidance") == guidance


def test_a_task_assigned_to_one_technician_is_refused_to_another(world: World) -> None:
    case = start(world, "repair_dispatch", REPAIR, "cs_assistant")
    do(world, task_of(world, case, "dispatch"), "engineering_dispatcher",
       {"trade": "plumbing", "technician": "technician"})
    arrive = task_of(world, case, "arrive_on_site")
    do(world, arrive, "technician2", {}, status=403)
    assert world.pages["technician2"].post(f"/tasks/{arrive}", data={}).status_code == 403
    do(world, arrive, "technician", {})

