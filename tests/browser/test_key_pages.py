"""The key register's page and its print views in a real browser (Chinese UI), with screenshots."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import expect

from webui.cli import cli, load_extensions

from .conftest import People, shot


def test_key_register_and_its_print_views_render(people: People, live_app: Flask) -> None:
    load_extensions()
    result = live_app.test_cli_runner().invoke(cli, ["demo-keys"])
    assert result.exit_code == 0, result.output
    manager = people.page("cs_manager")
    manager.goto("/registers/keys")
    expect(manager.locator("#keys-title")).to_have_text("钥匙登记")
    expect(manager.locator("table").first).to_contain_text("F-000123")
    shot(manager, "key-register")
    manager.goto("/registers/keys?unit=15F-1501")
    expect(manager.locator("#history-title")).to_be_visible()
    manager.goto("/records/key-handovers?unit=15F-1501")
    expect(manager.locator("#sheet-title")).to_have_text("单元钥匙交接单")
    shot(manager, "key-handover-form")
    manager.goto("/records/key-loans")
    expect(manager.locator("#sheet-title")).to_have_text("钥匙借用登记表")
    shot(manager, "key-loan-register")
