"""Process instances: start, list, detail, history and the admin moves, with their error codes."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import REPAIR, Api, basic, error_of
from tests.bpmn_builder import Process, field_xml


def deploy_fragile(api: Api) -> None:
    """Deploy a process whose script divides by the number the first task enters."""
    p = Process("api_fragile", starters="cs_assistant")
    p.start(fields=[field_xml("divisor", "integer", required=True)], lane="cs_assistant")
    p.script("divide", "quotient = 10 / divisor", lane="cs_assistant")
    p.user("enter", "cs_assistant", [field_xml("n", "integer", required=True)])
    p.script("divide_again", "again = 10 / n", lane="cs_assistant")
    p.user("look", "cs_assistant").end()
    p.chain("start", "divide", "enter", "divide_again", "look", "end")
    response = api.client.post("/api/v1/process-definitions", data=p.xml(),
                               headers={**basic("admin"), "Content-Type": "application/xml"})
    assert response.status_code == 201, response.get_data(as_text=True)


def test_start_answers_201_with_id_status_and_open_tasks(api: Api) -> None:
    started = api.start_repair()
    assert started["status"] == "running" and isinstance(started["id"], int)
    assert started["process_key"] == "repair_dispatch" and started["started_by"] == "cs_assistant"
    assert started["data"]["unit"] == REPAIR["unit"]
    assert started["started_at"].endswith("Z")


def test_start_with_invalid_data_is_422_naming_each_field(api: Api) -> None:
    response = api.post("/process-instances", "cs_assistant",
                        {"process_key": "repair_dispatch", "data": {**REPAIR, "category": "x", "unit": ""}},
                        headers={"Accept-Language": "en"})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert set(fields) == {"category", "unit"}
    assert all(isinstance(reason, str) for reasons in fields.values() for reason in reasons)
    assert api.ok("GET", "/process-instances", "admin")["total"] == 0


def test_field_reasons_follow_accept_language(api: Api) -> None:
    body = {"process_key": "repair_dispatch", "data": {**REPAIR, "unit": ""}}
    zh = error_of(api.post("/process-instances", "cs_assistant", body))["fields"]["unit"]
    en = error_of(api.post("/process-instances", "cs_assistant", body,
                           headers={"Accept-Language": "en"}))["fields"]["unit"]
    assert zh != en


def test_start_by_a_role_that_may_not_start_is_403(api: Api) -> None:
    body = {"process_key": "repair_dispatch", "data": REPAIR}
    response = api.post("/process-instances", "technician", body)
    assert response.status_code == 403


def test_start_of_an_unknown_process_is_404(api: Api) -> None:
    response = api.post("/process-instances", "cs_assistant", {"process_key": "nope", "data": {}})
    assert response.status_code == 404


def test_list_filters_pages_and_counts(api: Api) -> None:
    for _ in range(3):
        api.start_repair()
    api.ok("POST", "/process-instances", "cs_foreman",
           {"process_key": "hazardous_goods_issuance",
            "data": {"item": "alcohol", "quantity": 1, "purpose": "消毒", "location": "3F"}}, status=201)
    page = api.ok("GET", "/process-instances?process_key=repair_dispatch&per_page=2&page=2", "admin")
    assert page["total"] == 3 and page["page"] == 2 and page["per_page"] == 2 and len(page["items"]) == 1
    assert api.ok("GET", "/process-instances?status=completed", "admin")["total"] == 0
    assert api.ok("GET", "/process-instances?status=running", "admin")["total"] == 4
    # Staff see what they started; managers and admins see everything.
    assert api.ok("GET", "/process-instances", "cs_assistant")["total"] == 3
    assert api.ok("GET", "/process-instances", "technician")["total"] == 0


def test_detail_is_403_for_someone_unrelated_and_404_when_missing(api: Api) -> None:
    started = api.start_repair()
    assert api.get(f"/process-instances/{started['id']}", "cleaner").status_code == 403
    assert api.get("/process-instances/424242", "admin").status_code == 404


def test_history_lists_who_did_what_oldest_first(api: Api) -> None:
    started = api.start_repair()
    history = api.ok("GET", f"/process-instances/{started['id']}/history", "cs_assistant")
    kinds = [e["kind"] for e in history["items"]]
    assert kinds[0] == "started" and history["items"][0]["actor"] == "cs_assistant"
    assert history["total"] == len(kinds) and history["per_page"] == 100
    assert api.get("/process-instances/424242/history", "admin").status_code == 404


def test_admin_suspends_resumes_and_terminates(api: Api) -> None:
    instance_id = api.start_repair()["id"]
    suspended = api.ok("POST", f"/process-instances/{instance_id}/suspend", "admin", {"reason": "客户外出"})
    assert suspended["status"] == "suspended"
    assert api.post(f"/process-instances/{instance_id}/suspend", "admin").status_code == 409
    assert api.ok("POST", f"/process-instances/{instance_id}/resume", "admin")["status"] == "running"
    terminated = api.ok("POST", f"/process-instances/{instance_id}/terminate", "admin",
                        {"reason": "重复登记"})
    assert terminated["status"] == "terminated" and terminated["open_tasks"] == []
    history = api.ok("GET", f"/process-instances/{instance_id}/history", "admin")["items"]
    assert any(e["kind"] == "suspended" and e["message"] == "客户外出" for e in history)
    conflict = api.post(f"/process-instances/{instance_id}/resume", "admin")
    assert conflict.status_code == 409 and error_of(conflict)["error"] == "conflict"


def test_admin_moves_are_403_for_others(api: Api) -> None:
    instance_id = api.start_repair()["id"]
    for move in ("suspend", "resume", "terminate", "retry"):
        response = api.post(f"/process-instances/{instance_id}/{move}", "cs_manager")
        assert response.status_code == 403, move


def test_retry_of_an_instance_not_in_error_is_409(api: Api) -> None:
    instance_id = api.start_repair()["id"]
    assert api.post(f"/process-instances/{instance_id}/retry", "admin").status_code == 409


def test_a_failing_step_at_start_answers_201_with_status_error_and_is_kept(api: Api) -> None:
    deploy_fragile(api)
    started = api.ok("POST", "/process-instances", "cs_assistant",
                     {"process_key": "api_fragile", "data": {"divisor": 0}}, status=201)
    assert started["status"] == "error"
    assert "divide" in started["error"]["message"] and started["error"]["element_id"] == "divide"
    kept = api.ok("GET", f"/process-instances/{started['id']}", "admin")
    assert kept["status"] == "error"
    retried = api.ok("POST", f"/process-instances/{started['id']}/retry", "admin", {})
    assert retried["status"] == "error"  # still dividing by zero: answered, not a server error


def test_a_failing_step_after_completion_answers_200_with_status_error(api: Api) -> None:
    deploy_fragile(api)
    started: dict[str, Any] = api.ok("POST", "/process-instances", "cs_assistant",
                                     {"process_key": "api_fragile", "data": {"divisor": 2}}, status=201)
    task = started["open_tasks"][0]
    done = api.ok("POST", f"/tasks/{task['id']}/complete", "cs_assistant", {"data": {"n": 0}})
    assert done["status"] == "error" and done["error"]["element_id"] == "divide_again"
    history = api.ok("GET", f"/process-instances/{started['id']}/history", "admin")["items"]
    assert [e["kind"] for e in history][-2:] == ["task_completed", "error"]


def test_q_finds_a_case_by_phone_name_unit_or_number_and_sort_orders(api: Api) -> None:
    first = api.start_repair()
    second = api.start_repair(unit="8F-801", reporter_name="李女士", contact_phone="13900002222")
    for query, expected in (("13900002222", [second["id"]]), ("李女士", [second["id"]]),
                            ("12f-1203", [first["id"]]), (f"{first['id']:06d}", [first["id"]])):
        found = api.ok("GET", f"/process-instances?q={query}", "cs_manager")
        assert [i["id"] for i in found["items"]] == expected, query
    oldest = api.ok("GET", "/process-instances?sort=-started", "cs_manager")["items"]
    assert [i["id"] for i in oldest][:2] == [first["id"], second["id"]]
    assert api.get("/process-instances?sort=sideways", "cs_manager").status_code == 422
