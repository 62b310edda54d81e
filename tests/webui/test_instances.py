"""Instances pages: search with filters and pages, the detail with diagram data, admin actions."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.errors import ProcessFailure
from engine.runtime import Actor
from engine.store.models import HistoryEvent, ProcessInstance
from tests.bpmn_builder import Process, field_xml
from webui.engine_ext import get_engine
from webui.extensions import db

from .conftest import PASSWORDS, REPAIR, csrf_token, open_task, start_case


def signed_in(app: Flask, username: str, lang: str | None = None) -> tuple[FlaskClient, str]:
    """Sign a user in through the form (with its CSRF token); return the client and a fresh token."""
    client = app.test_client()
    token = csrf_token(client)
    if lang:
        client.post(f"/language/{lang}", data={"csrf_token": token, "next": "/login"})
    response = client.post("/login", data={"username": username, "password": PASSWORDS[username],
                                           "csrf_token": token})
    assert response.status_code == 302, f"{username} could not sign in"
    return client, csrf_token(client, "/instances")


def complete(app: Flask, instance_id: int, name: str, data: dict[str, object], username: str) -> None:
    """Complete an open task through the engine as a demo user."""
    from engine.users import get_user

    task_id = open_task(app, instance_id, name)
    with app.app_context():
        user = get_user(db.session, username)
        assert user is not None
        get_engine().complete(db.session, task_id, data, Actor(username, user.role_ids))
        db.session.commit()


DISPATCH: dict[str, object] = {"trade": "plumbing", "technician": "technician"}


def repair(unit: str = "12F-1203", **extra: object) -> dict[str, object]:
    """Return start data of a repair request for a unit."""
    return {**REPAIR, "unit": unit, **extra}


def history_kinds(app: Flask, instance_id: int) -> list[tuple[str, str]]:
    """Return (kind, message) of an instance's history rows."""
    with app.app_context():
        rows = db.session.execute(select(HistoryEvent.kind, HistoryEvent.message).where(
            HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.id))
        return [(k, m) for k, m in rows]


def status_of(app: Flask, instance_id: int) -> str:
    """Return an instance's stored status."""
    with app.app_context():
        inst = db.session.get(ProcessInstance, instance_id)
        assert inst is not None
        return inst.status


def listed_ids(html: str) -> list[int]:
    """Return the instance ids linked from a list page, in order."""
    return [int(i) for i in re.findall(r'<td><a href="/instances/(\d+)">', html)]


# ---- the list ----------------------------------------------------------------------------------

def test_observers_see_every_case_and_staff_only_those_they_started(web: Flask) -> None:
    mine = start_case(web, "repair_dispatch", repair("A-1"), "cs_assistant")
    other = start_case(web, "repair_dispatch", repair("B-2"), "cs_assistant2")
    for observer in ("admin", "cs_manager"):
        client, _ = signed_in(web, observer)
        assert set(listed_ids(client.get("/instances").get_data(as_text=True))) == {mine, other}
    client, _ = signed_in(web, "cs_assistant2")
    assert listed_ids(client.get("/instances").get_data(as_text=True)) == [other]
    client, _ = signed_in(web, "technician")
    assert listed_ids(client.get("/instances").get_data(as_text=True)) == []


def test_filters_narrow_the_list(web: Flask) -> None:
    a = start_case(web, "repair_dispatch", repair("A-1", description="灯不亮"), "cs_assistant")
    b = start_case(web, "repair_dispatch", repair("B-2"), "cs_assistant2")
    c = start_case(web, "hazardous_goods_issuance",
                   {"item": "alcohol", "quantity": "1", "purpose": "消毒", "location": "B1"}, "cleaner")
    client, token = signed_in(web, "admin")
    client.post(f"/instances/{b}/terminate", data={"reason": "重复报修", "csrf_token": token})

    def ids(query: str) -> set[int]:
        response = client.get(f"/instances?{query}")
        assert response.status_code == 200, query
        return set(listed_ids(response.get_data(as_text=True)))

    assert ids("process=repair_dispatch") == {a, b}
    assert ids("status=terminated") == {b}
    assert ids("status=running&process=repair_dispatch") == {a}
    assert ids("unit=A-1") == {a}
    assert ids("started_by=cleaner") == {c}
    assert ids("version=1") == {a, b, c}
    assert ids("version=2") == set()
    assert ids("from=2026-11-23&to=2026-11-23") == {a, b, c}  # the fixed clock's day
    assert ids("to=2026-11-22") == set()
    assert ids("q=A-1") == {a}
    assert ids("overdue=1") == set()


def test_a_bad_filter_is_named_and_nothing_is_listed(web: Flask) -> None:
    start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, _ = signed_in(web, "admin", lang="en")
    response = client.get("/instances?from=31.12.2026&version=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="from-error"' in html and "Use a date like 2026-03-31." in html
    assert 'id="version-error"' in html
    assert listed_ids(html) == []


def test_the_end_date_may_not_precede_the_start(web: Flask) -> None:
    client, _ = signed_in(web, "admin", lang="en")
    response = client.get("/instances?from=2026-11-23&to=2026-11-01")
    assert response.status_code == 400
    assert "The end date must not be before the start date." in response.get_data(as_text=True)


def test_pages_of_25_with_the_total(web: Flask) -> None:
    started = [start_case(web, "repair_dispatch", repair(f"U-{n}"), "cs_assistant") for n in range(30)]
    client, _ = signed_in(web, "admin", lang="en")
    first = client.get("/instances").get_data(as_text=True)
    second = client.get("/instances?page=2").get_data(as_text=True)
    assert len(listed_ids(first)) == 25 and "1–25 of 30" in first
    assert len(listed_ids(second)) == 5 and "26–30 of 30" in second
    assert set(listed_ids(first)) | set(listed_ids(second)) == set(started)
    # Page links keep the filters.
    filtered = client.get("/instances?process=repair_dispatch").get_data(as_text=True)
    assert "/instances?process=repair_dispatch&amp;page=2" in filtered


def test_status_badges_speak_both_languages(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, token = signed_in(web, "admin")
    client.post(f"/instances/{case}/suspend", data={"reason": "核对", "csrf_token": token})
    assert "已暂停" in client.get("/instances").get_data(as_text=True)
    client.post("/language/en", data={"csrf_token": token, "next": "/instances"})
    assert '<span class="status status--suspended">Suspended</span>' in client.get("/instances").get_data(
        as_text=True)


# ---- the detail --------------------------------------------------------------------------------

def test_detail_shows_history_with_changed_data_open_tasks_and_print_link(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    complete(web, case, "dispatch", DISPATCH, "engineering_dispatcher")
    arrive = open_task(web, case, "arrive_on_site")
    client, _ = signed_in(web, "admin", lang="en")
    html = client.get(f"/instances/{case}").get_data(as_text=True)
    assert f'href="/tasks/{arrive}"' in html and f'href="/records/{case}"' in html
    assert "engineering_dispatcher" in html  # who did the dispatch
    assert "Trade" in html and "Plumbing" in html  # the changed field with its label and choice label
    assert 'class="changes__new">technician<' in html
    assert f'data-src="/instances/{case}/diagram.json"' in html


def test_diagram_json_counts_visits_per_element(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    complete(web, case, "dispatch", DISPATCH, "engineering_dispatcher")
    client, _ = signed_in(web, "cs_manager")
    body = client.get(f"/instances/{case}/diagram.json").get_json()
    assert body["xml"].lstrip().startswith("<?xml") and body["version"] == 1
    visits = body["visits"]
    assert visits["start"]["completed"] == 1
    assert visits["dispatch"] == {"completed": 1, "active": 0, "failed": 0}
    assert visits["arrive_on_site"] == {"completed": 0, "active": 1, "failed": 0}
    assert "repair" not in visits


def test_diagram_json_marks_only_the_branches_taken(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    complete(web, case, "dispatch", DISPATCH, "engineering_dispatcher")
    complete(web, case, "arrive_on_site", {}, "technician")
    complete(web, case, "repair", {"result": "换阀门", "fixed": True}, "technician")
    client, _ = signed_in(web, "admin")
    moved = {tuple(p) for p in client.get(f"/instances/{case}/diagram.json").get_json()["transitions"]}
    assert {("start", "gw_category"), ("dispatch", "gw_substitute"), ("arrive_on_site", "repair"),
            ("gw_fixed", "mark_work_done"), ("mark_work_done", "foreman_confirm")} <= moved
    assert ("gw_fixed", "dispatch") not in moved and ("gw_category", "give_guidance") not in moved


def test_a_case_not_yours_is_forbidden_and_a_missing_one_not_found(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, _ = signed_in(web, "cleaner")
    assert client.get(f"/instances/{case}").status_code == 403
    assert client.get(f"/instances/{case}/diagram.json").status_code == 403
    assert client.get("/instances/99999").status_code == 404


# ---- administration ----------------------------------------------------------------------------

def test_suspend_resume_terminate_record_the_reason_in_the_history(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, token = signed_in(web, "admin")
    steps = (("suspend", "等待业主确认", "suspended"), ("resume", "业主已确认", "running"),
             ("terminate", "业主取消报修", "terminated"))
    for action, reason, status in steps:
        response = client.post(f"/instances/{case}/{action}", data={"reason": reason, "csrf_token": token})
        assert response.status_code == 302, action
        assert status_of(web, case) == status
    kinds = history_kinds(web, case)
    assert ("suspended", "等待业主确认") in kinds and ("resumed", "业主已确认") in kinds
    assert ("terminated", "业主取消报修") in kinds
    assert "业主取消报修" in client.get(f"/instances/{case}").get_data(as_text=True)


def test_an_action_without_a_reason_is_refused_and_changes_nothing(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    before = history_kinds(web, case)
    client, token = signed_in(web, "admin", lang="en")
    response = client.post(f"/instances/{case}/terminate", data={"reason": "  ", "csrf_token": token})
    assert response.status_code == 422
    assert 'id="reason-error"' in response.get_data(as_text=True)
    assert status_of(web, case) == "running" and history_kinds(web, case) == before


def test_only_admins_may_administer(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, token = signed_in(web, "cs_manager")
    response = client.post(f"/instances/{case}/suspend", data={"reason": "x", "csrf_token": token})
    assert response.status_code == 403
    assert status_of(web, case) == "running"
    assert "/suspend" not in client.get(f"/instances/{case}").get_data(as_text=True)


def test_admin_actions_need_the_csrf_token(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, _ = signed_in(web, "admin")
    assert client.post(f"/instances/{case}/suspend", data={"reason": "x"}).status_code == 400
    assert status_of(web, case) == "running"


def test_an_action_that_no_longer_fits_gets_a_friendly_409(web: Flask) -> None:
    case = start_case(web, "repair_dispatch", repair(), "cs_assistant")
    client, token = signed_in(web, "admin", lang="en")
    response = client.post(f"/instances/{case}/resume", data={"reason": "x", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Resume is not possible: the instance is Running now." in html


DRAW = "hazardous_goods_issuance"  # a new version of it: the one process bound to ledger_issue


def failing_process() -> str:
    """Return a process whose script draws alcohol from an empty cabinet (fails until stocked)."""
    p = Process(DRAW, starters="cs_foreman")
    p.start(fields=[field_xml("qty", "number", required=True)])
    p.script("take", "balance = ledger_issue('alcohol', qty)")
    p.user("done", "cs_foreman", [])
    p.end("end")
    p.chain("start", "take", "done", "end")
    return p.xml()


def test_errors_show_with_a_retry_that_runs_the_step_again(web: Flask) -> None:
    from department import services
    from tests.conftest import T0

    with web.app_context():
        engine = get_engine()
        engine.deploy(db.session, failing_process())
        with pytest.raises(ProcessFailure):
            engine.start(db.session, DRAW, {"qty": 2},
                         Actor("cs_foreman", frozenset({"cs_foreman"})))
        db.session.commit()
        case = db.session.scalars(select(ProcessInstance.id).where(
            ProcessInstance.process_key == DRAW)).one()
    client, token = signed_in(web, "admin", lang="en")
    html = client.get(f"/instances/{case}").get_data(as_text=True)
    assert "insufficient stock" in html and f"/instances/{case}/retry" in html
    assert client.get(f"/instances/{case}/diagram.json").get_json()["visits"]["take"]["failed"] == 1
    # Still no stock: the retry fails again and says so.
    response = client.post(f"/instances/{case}/retry", data={"csrf_token": token}, follow_redirects=True)
    assert "the step failed again" in response.get_data(as_text=True) and status_of(web, case) == "error"
    with web.app_context():
        services.stock_in(db.session, "alcohol", 10, "", "cs_foreman", T0)
        db.session.commit()
    client.post(f"/instances/{case}/retry", data={"csrf_token": token})
    assert status_of(web, case) == "running"
    assert [k for k, _ in history_kinds(web, case)].count("retried") == 2
