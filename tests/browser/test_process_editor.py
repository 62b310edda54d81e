"""The process editor in a browser: properties panel with the pf provider, form builder and its preview."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import People, shot


def open_group(page: Page, title: str) -> None:
    """Open a properties-panel group by its title (when closed)."""
    header = page.locator(".bio-properties-panel-group-header", has_text=title).first
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_the_panel_edits_pf_settings_and_the_form_builder_previews_as_staff_see_it(people: People) -> None:
    owner = people.page("process_owner")
    owner.goto("/models/repair_dispatch/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    owner.locator('.djs-element[data-element-id="dispatch"]').first.click()
    open_group(owner, "流程设置")
    english = owner.locator("#bio-properties-panel-pf-title-en")
    expect(english).to_have_value("Dispatch a technician")
    owner.locator("#bio-properties-panel-pf-not-starter").check()
    expect(owner.locator("#form-preview select[name=trade]")).to_be_attached()
    shot(owner.locator("#modeler-panel"), "editor-panel")
    owner.click("#form-add-field")
    new_field = owner.locator(".form-builder__field").last
    new_field.locator("input[data-attr=name]").fill("floor")
    new_field.locator("input[data-attr=name]").press("Tab")
    new_field.locator("input[data-attr=label-zh]").fill("楼层")
    new_field.locator("input[data-attr=label-zh]").press("Tab")
    expect(owner.locator("#form-preview input[name=floor]")).to_be_attached()
    expect(owner.locator("#form-preview")).to_contain_text("楼层")
    shot(owner.locator("#form-builder"), "editor-form-preview")
    xml = owner.locator("#bpmn-xml").input_value()
    assert 'name="floor"' in xml and "<pf:notStarter" in xml
