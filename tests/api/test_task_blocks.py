"""Task items say whether the caller may complete them and why not, before anything is sent."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_key_registers import seal

INCIDENT = {"unit": "12F-1203", "incident_type": "lost", "discovered_at": "2024-03-01T09:00",
            "account": "封条破损"}


def _sign_off(api: Api) -> dict[str, object]:
    """Return the manager_sign task of an incident the manager reported himself."""
    seal(api, str(INCIDENT["unit"]), "S-1")
    case = api.ok("POST", "/process-instances", "cs_manager",
                  {"process_key": "sealed_key_incident", "data": INCIDENT}, status=201)
    handle = api.open_task(case["id"], "handle_incident")
    api.ok("POST", f"/tasks/{handle['id']}/complete", "cs_supervisor", {"data": {
        "findings": "已查", "customer_notified": True, "actions_taken": "换锁", "new_seal_number": "S-2"}})
    return api.open_task(case["id"], "manager_sign", "cs_manager")


def test_the_starter_sees_can_complete_false_with_the_reason(api: Api) -> None:
    task = _sign_off(api)
    assert task["can_complete"] is False and task["blocked_code"] == "not_starter"
    assert "申请人不得自行审批" in str(task["blocked_reason"])
    [listed] = api.ok("GET", "/tasks?scope=group", "cs_manager")["items"]
    assert listed["id"] == task["id"] and listed["can_complete"] is False
    english = api.call("GET", f"/tasks/{task['id']}", "cs_manager",
                       headers={"Accept-Language": "en"}).get_json()
    assert "may not approve it" in english["blocked_reason"]
    # The engine refuses what the item announced.
    assert api.post(f"/tasks/{task['id']}/complete", "cs_manager", {"data": {}}).status_code == 403


def test_a_workable_task_says_so(api: Api) -> None:
    task = api.start_repair()["open_tasks"][0]
    mine = api.ok("GET", f"/tasks/{task['id']}", "engineering_dispatcher")
    assert mine["can_complete"] is True and mine["blocked_code"] is None and mine["blocked_reason"] is None
    other = api.ok("GET", f"/tasks/{task['id']}", "cs_manager")
    assert other["can_complete"] is False and other["blocked_code"] == "role"


def test_a_suspended_case_blocks_its_tasks(api: Api) -> None:
    case = api.start_repair()
    api.ok("POST", f"/process-instances/{case['id']}/suspend", "admin", {"reason": "等待"})
    task = api.ok("GET", f"/tasks/{case['open_tasks'][0]['id']}", "engineering_dispatcher")
    assert task["can_complete"] is False and task["blocked_code"] == "case_suspended"


def test_a_role_member_passes_a_forbidden_step_to_a_colleague_and_a_dispatcher_redispatches(api: Api) -> None:
    task = api.start_repair()["open_tasks"][0]
    after = api.ok("POST", f"/tasks/{task['id']}/complete", "engineering_dispatcher",
                   {"data": {"trade": "plumbing", "technician": "technician"}})
    arrive = after["open_tasks"][0]
    moved = api.ok("POST", f"/tasks/{arrive['id']}/reassign", "engineering_dispatcher",
                   {"assignee": "technician2"})
    assert moved["assignee"] == "technician2"
    refused = api.post(f"/tasks/{arrive['id']}/reassign", "technician", {"assignee": "technician"})
    assert refused.status_code == 403
