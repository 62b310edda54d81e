"""The process editor in a browser: properties panel with the pf provider, form builder and its preview."""

from __future__ import annotations

import difflib
import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import People, shot
from .test_admin_flows import rename_in_panel


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
    expect(owner.locator(".bio-properties-panel-header-type")).to_have_text("人工任务")
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


def test_lint_marks_an_unconnected_task_and_the_simulation_toggle_is_there(people: People) -> None:
    owner = people.page("process_owner")
    owner.goto("/models/complaint_handling/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    expect(owner.locator(".bjsl-button")).to_be_attached()
    toggle = owner.locator(".bts-toggle-mode").first
    expect(toggle).to_contain_text("模拟运行")
    toggle.click()  # the library writes its English label again on every toggle
    expect(toggle).to_contain_text("模拟运行")
    toggle.click()
    # A task no flow reaches (loaded through the source view: drawing it needs a mouse drag).
    xml = owner.locator("#bpmn-xml").input_value()
    lonely = xml.replace("</bpmn:process>", '<bpmn:task id="lonely" name="孤立"/></bpmn:process>', 1)
    owner.evaluate(
        """xml => { const area = document.getElementById('bpmn-xml'); area.value = xml;
        area.dispatchEvent(new Event('change')); }""",
        lonely,
    )
    expect(owner.locator(".bjsl-button")).to_contain_text("1")
    # Listed by the task's title in the page's language, not its id, with the message in Chinese.
    issue = owner.locator("#lint-list li", has=owner.locator('[data-lint-element="lonely"]'))
    expect(issue).to_have_text("孤立: 此元素没有连线")
    shot(owner.locator("#lint-issues"), "editor-lint-list")
    shot(owner, "editor-lint")


@pytest.mark.usefixtures("shipped_processes_afterwards")
def test_compare_colours_what_changed_between_versions(people: People) -> None:
    owner = people.page("process_owner")
    owner.goto("/models/repair_dispatch/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    owner.locator('.djs-element[data-element-id="dispatch"]').first.click()
    rename_in_panel(owner, "派工（比较）")
    owner.click("#deploy-button")
    owner.wait_for_url(re.compile(r"/models/repair_dispatch/versions/\d+$"))
    number = int(owner.url.rsplit("/", 1)[1])
    owner.goto(f"/models/repair_dispatch/compare?a={number - 1}&b={number}")
    expect(owner.locator("#visual-compare[data-ready=true]")).to_be_attached()
    expect(
        owner.locator('[data-side=new] .djs-element.diff-changed[data-element-id="dispatch"]')
    ).to_be_attached()
    expect(owner.locator("[data-count=changed]")).not_to_have_text("0")
    owner.locator("[data-side=new] [data-zoom=in]").click()
    shot(owner.locator("#visual-compare"), "editor-compare")
    # The deployed file differs from the one before it by the renamed task's line only.
    old, new = (owner.request.get(f"/models/repair_dispatch/versions/{n}/xml").text()
                for n in (number - 1, number))
    changed = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert len(changed) == 2 and all('id="dispatch"' in line for line in changed)


def test_renaming_one_task_in_the_editor_saves_a_one_line_change(people: People) -> None:
    owner = people.page("process_owner")
    owner.goto("/models/key_loan/edit")
    expect(owner.locator("#modeler-canvas[data-ready=true]")).to_be_attached()
    original = owner.locator("#bpmn-xml").input_value()
    owner.locator('.djs-element[data-element-id="approve_loan"]').first.click()
    rename_in_panel(owner, "部门负责人审批")
    owner.click("#save-button")
    expect(owner.locator("#discard-button")).to_be_attached()
    saved = owner.locator("#bpmn-xml").input_value()
    diff = difflib.unified_diff(original.splitlines(), saved.splitlines(), lineterm="", n=0)
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert changed == ['-    <bpmn:userTask id="approve_loan" name="部门负责人批准">',
                       '+    <bpmn:userTask id="approve_loan" name="部门负责人审批">']
    owner.click("#discard-button")
