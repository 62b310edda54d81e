"""Tasks: listing by scope, forms in the caller's language, claim, complete, release, reassign."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, error_of

HAZARD = {"item": "alcohol", "quantity": 2, "purpose": "消毒", "location": "3F 大堂"}


def dispatch_task(api: Api) -> dict[str, Any]:
    """Start a repair and return its dispatch task."""
    return api.start_repair()["open_tasks"][0]


def test_group_scope_lists_unclaimed_tasks_of_my_roles_with_their_form(api: Api) -> None:
    task = dispatch_task(api)
    group = api.ok("GET", "/tasks?scope=group", "engineering_dispatcher")
    assert group["total"] == 1 and group["items"][0]["id"] == task["id"]
    item = group["items"][0]
    assert set(item) >= {"id", "instance_id", "name", "title", "role", "assignee", "due_at", "overdue",
                         "form"}
    assert [f["name"] for f in item["form"]["fields"]][:2] == ["trade", "technician"]
    assert api.ok("GET", "/tasks?scope=group", "technician")["total"] == 0
    assert api.ok("GET", "/tasks", "engineering_dispatcher")["total"] == 0  # mine: nothing claimed yet


def test_titles_and_forms_follow_accept_language_defaulting_to_chinese(api: Api) -> None:
    task = dispatch_task(api)
    zh = api.ok("GET", f"/tasks/{task['id']}", "engineering_dispatcher")
    en = api.get(f"/tasks/{task['id']}", "engineering_dispatcher",
                 headers={"Accept-Language": "en"}).get_json()
    assert zh["title"] == zh["title_zh"] and en["title"] == en["title_en"] != zh["title"]
    trade_zh = zh["form"]["fields"][0]
    trade_en = en["form"]["fields"][0]
    assert trade_zh["label"] != trade_en["label"]
    assert trade_zh["options"][0]["value"] == trade_en["options"][0]["value"] == "electrical"


def test_all_scope_is_for_admins_and_managers(api: Api) -> None:
    dispatch_task(api)
    assert api.ok("GET", "/tasks?scope=all", "admin")["total"] == 1
    assert api.ok("GET", "/tasks?scope=all", "cs_manager")["total"] == 1
    assert api.get("/tasks?scope=all", "technician").status_code == 403


def test_claim_puts_the_task_in_my_inbox_and_others_get_409(api: Api) -> None:
    task = dispatch_task(api)
    claimed = api.ok("POST", f"/tasks/{task['id']}/claim", "engineering_dispatcher")
    assert claimed["assignee"] == "engineering_dispatcher"
    assert api.ok("GET", "/tasks?scope=mine", "engineering_dispatcher")["total"] == 1
    taken = api.post(f"/tasks/{task['id']}/claim", "admin")
    assert taken.status_code == 409 and "engineering_dispatcher" in error_of(taken)["message"]
    released = api.ok("POST", f"/tasks/{task['id']}/release", "engineering_dispatcher")
    assert released["assignee"] is None


def test_claim_of_another_roles_task_is_403(api: Api) -> None:
    task = dispatch_task(api)
    response = api.post(f"/tasks/{task['id']}/claim", "technician")
    assert response.status_code == 403
    assert error_of(response)["error"] == "forbidden"


def test_complete_with_invalid_data_is_422_per_field(api: Api) -> None:
    task = dispatch_task(api)
    response = api.post(f"/tasks/{task['id']}/complete", "engineering_dispatcher",
                        {"data": {"trade": "magic", "technician": "cs_assistant"}},
                        headers={"Accept-Language": "en"})
    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert set(fields) == {"trade", "technician"}
    assert api.ok("GET", f"/tasks/{task['id']}", "admin")["status"] == "open"


def test_complete_twice_is_409(api: Api) -> None:
    task = dispatch_task(api)
    data = {"data": {"trade": "plumbing", "technician": "technician"}}
    api.ok("POST", f"/tasks/{task['id']}/complete", "engineering_dispatcher", data)
    again = api.post(f"/tasks/{task['id']}/complete", "engineering_dispatcher", data)
    assert again.status_code == 409
    assert error_of(again)["error"] == "conflict"


def test_someone_elses_assigned_task_is_403(api: Api) -> None:
    task = dispatch_task(api)
    after = api.ok("POST", f"/tasks/{task['id']}/complete", "engineering_dispatcher",
                   {"data": {"trade": "plumbing", "technician": "technician"}})
    arrive = after["open_tasks"][0]
    assert arrive["assignee"] == "technician"
    response = api.post(f"/tasks/{arrive['id']}/complete", "technician2", {"data": {}})
    assert response.status_code == 403


def test_separation_of_duty_the_requester_may_not_approve_is_403(api: Api) -> None:
    started = api.ok("POST", "/process-instances", "cs_foreman",
                     {"process_key": "hazardous_goods_issuance", "data": HAZARD}, status=201)
    approve = api.open_task(started["id"], "approve")
    response = api.post(f"/tasks/{approve['id']}/complete", "cs_foreman",
                        {"data": {"approved": True, "approved_quantity": 2}})
    assert response.status_code == 403
    assert "approve" in error_of(response)["message"]
    done = api.ok("POST", f"/tasks/{approve['id']}/complete", "cs_foreman2",
                  {"data": {"approved": True, "approved_quantity": 2}})
    assert done["status"] == "running"


def test_completing_a_task_of_a_suspended_instance_is_409(api: Api) -> None:
    task = dispatch_task(api)
    api.ok("POST", f"/process-instances/{task['instance_id']}/suspend", "admin")
    response = api.post(f"/tasks/{task['id']}/complete", "engineering_dispatcher",
                        {"data": {"trade": "plumbing", "technician": "technician"}})
    assert response.status_code == 409


def test_unknown_task_is_404(api: Api) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.get(f"/tasks/{missing}", "admin").status_code == 404
    assert api.post(f"/tasks/{missing}/complete", "admin", {"data": {}}).status_code == 404


def test_admin_reassigns_to_a_holder_of_the_role(api: Api) -> None:
    task = dispatch_task(api)
    after = api.ok("POST", f"/tasks/{task['id']}/complete", "engineering_dispatcher",
                   {"data": {"trade": "plumbing", "technician": "technician"}})
    arrive = after["open_tasks"][0]
    moved = api.ok("POST", f"/tasks/{arrive['id']}/reassign", "admin", {"assignee": "technician2"})
    assert moved["assignee"] == "technician2"
    refused = api.post(f"/tasks/{arrive['id']}/reassign", "admin", {"assignee": "cs_assistant"})
    assert refused.status_code == 422 and "assignee" in error_of(refused)["fields"]
    assert api.post(f"/tasks/{arrive['id']}/reassign", "cs_manager",
                    {"assignee": "technician"}).status_code == 403
    assert api.post(f"/tasks/{arrive['id']}/reassign", "admin", {}).status_code == 422


def test_completed_scope_lists_what_i_completed(api: Api) -> None:
    task = dispatch_task(api)
    api.ok("POST", f"/tasks/{task['id']}/complete", "engineering_dispatcher",
           {"data": {"trade": "plumbing", "technician": "technician"}})
    done = api.ok("GET", "/tasks?status=completed", "engineering_dispatcher")
    assert done["total"] == 1 and done["items"][0]["completed_by"] == "engineering_dispatcher"
