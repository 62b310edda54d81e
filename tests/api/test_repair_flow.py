"""The docs/api.md walk-through, end to end through the API: a repair request from start to closed."""

from __future__ import annotations

from tests.api.conftest import Api


def test_repair_request_runs_to_closed_through_the_api(api: Api) -> None:
    started = api.start_repair()
    assert started["status"] == "running"
    instance_id = started["id"]
    assert [t["name"] for t in started["open_tasks"]] == ["dispatch"]

    inbox = api.ok("GET", "/tasks?scope=group", "engineering_dispatcher")
    dispatch = next(t for t in inbox["items"] if t["instance_id"] == instance_id)
    assert dispatch["name"] == "dispatch" and dispatch["role"] == "engineering_dispatcher"
    api.ok("POST", f"/tasks/{dispatch['id']}/claim", "engineering_dispatcher", {})
    after = api.ok("POST", f"/tasks/{dispatch['id']}/complete", "engineering_dispatcher",
                   {"data": {"trade": "plumbing", "technician": "technician"}})
    assert [t["name"] for t in after["open_tasks"]] == ["arrive_on_site"]

    mine = api.ok("GET", f"/tasks?scope=mine&instance_id={instance_id}", "technician")
    arrive = mine["items"][0]
    assert arrive["name"] == "arrive_on_site" and arrive["assignee"] == "technician"
    api.ok("POST", f"/tasks/{arrive['id']}/complete", "technician", {"data": {}})
    repair = api.open_task(instance_id, "repair")
    api.ok("POST", f"/tasks/{repair['id']}/complete", "technician",
           {"data": {"result": "换了角阀", "fixed": True}})

    confirm = api.open_task(instance_id, "foreman_confirm")
    api.ok("POST", f"/tasks/{confirm['id']}/complete", "area_foreman", {"data": {"confirmed": True}})
    callback = api.open_task(instance_id, "callback")
    done = api.ok("POST", f"/tasks/{callback['id']}/complete", "cs_assistant",
                  {"data": {"satisfied": True, "callback_method": "phone", "comments": ""}})

    assert done["status"] == "completed"
    assert done["outcome"] == "closed" and done["open_tasks"] == []
    instance = api.ok("GET", f"/process-instances/{instance_id}", "cs_assistant")
    assert instance["data"]["technician"] == "technician"
    history = api.ok("GET", f"/process-instances/{instance_id}/history", "cs_assistant")
    completed = [e["element_id"] for e in history["items"] if e["kind"] == "task_completed"]
    assert completed == ["dispatch", "arrive_on_site", "repair", "foreman_confirm", "callback"]
    assert history["total"] == len(history["items"])
