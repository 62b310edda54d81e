"""The bell, the notification list, preferences, the webhook admin page and `bpm notify`."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner

from webui.cli import cli, load_extensions

from .conftest import REPAIR, start_case
from .test_inbox import client_for, dispatch


def test_the_bell_counts_a_task_assigned_to_me_and_answers_304_while_nothing_changes(
        process_app: Flask) -> None:
    iid = start_case(process_app, "repair_dispatch", REPAIR, "cs_assistant")
    tech = client_for(process_app, "technician")
    first = tech.get("/notifications/badge")
    assert first.status_code == 200 and first.get_json()["unread"] == 0
    dispatch(process_app, iid)  # the dispatcher picks this technician
    second = tech.get("/notifications/badge", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.get_json()["unread"] == 1
    same = tech.get("/notifications/badge", headers={"If-None-Match": second.headers["ETag"]})
    assert same.status_code == 304 and same.get_data() == b""
    page = tech.get("/inbox").get_data(as_text=True)
    assert 'class="bell__count" data-count="1"' in page  # on every page
    listing = tech.get("/notifications").get_data(as_text=True)
    assert "分配给我的任务" in listing  # the event, in Chinese by default
    assert tech.post("/notifications/read-all").status_code == 302
    assert tech.get("/notifications/badge").get_json()["unread"] == 0


def test_preferences_are_saved_and_bad_ones_refused_by_field(process_app: Flask) -> None:
    tech = client_for(process_app, "technician")
    bad = tech.post("/notifications/settings", data={"email": "x y", "quiet_start": "22:00"},
                    follow_redirects=True).get_data(as_text=True)
    assert "email" in bad and "quiet_end" in bad
    good = tech.post("/notifications/settings", data={
        "email": "tech@test.local", "email_enabled": "on", "quiet_start": "22:00", "quiet_end": "07:00",
        "app:task_assigned": "on"}, follow_redirects=True).get_data(as_text=True)
    assert 'value="tech@test.local"' in good and 'value="22:00"' in good


def test_the_admin_page_adds_a_webhook_and_refuses_a_bad_one(process_app: Flask) -> None:
    admin = client_for(process_app, "admin")
    admin.post("/notifications/admin/webhooks", data={"url": "http://127.0.0.1:9/hook", "format": "wecom",
                                                      "roles": "technician"})
    page = admin.get("/notifications/admin").get_data(as_text=True)
    assert "http://127.0.0.1:9/hook" in page and "wecom" in page
    refused = admin.post("/notifications/admin/webhooks", data={"url": "ftp://x", "format": "generic"},
                         follow_redirects=True).get_data(as_text=True)
    assert "url" in refused and "ftp://x" in refused
    assert client_for(process_app, "technician").get("/notifications/admin").status_code == 403


def test_bpm_notify_add_webhook_list_and_test(runner: FlaskCliRunner) -> None:
    load_extensions()
    added = runner.invoke(cli, ["notify", "add-webhook", "http://127.0.0.1:9/robot", "--role", "technician",
                                "--user", "technician", "--format", "dingtalk"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["notify", "list"])
    assert "dingtalk" in listed.output and "http://127.0.0.1:9/robot" in listed.output
    tested = runner.invoke(cli, ["notify", "test", "1"])
    assert tested.exit_code == 0 and "queued" in tested.output
    bad = runner.invoke(cli, ["notify", "add-webhook", "nope", "--role", "wizard"])
    assert bad.exit_code != 0 and "url" in bad.output and "wizard" in bad.output
    missing = runner.invoke(cli, ["notify", "test", "99"])
    assert missing.exit_code != 0 and "99" in missing.output
