"""Process models: list, view, check with every problem, deploy versions, stale deploys, compare."""

from __future__ import annotations

import html
import json
import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from engine import definitions
from engine.store.models import ProcessInstance, ProcessVersion
from webui.extensions import db
from webui.models_editor import normalized_lines

from .conftest import PROCESSES, start_case
from .test_instances import complete, repair, signed_in, status_of

REPAIR_XML = (PROCESSES / "repair_dispatch.bpmn").read_text(encoding="utf-8")


def versions(app: Flask, key: str = "repair_dispatch") -> list[int]:
    """Return the stored version numbers of a process."""
    with app.app_context():
        return list(db.session.scalars(select(ProcessVersion.version).where(
            ProcessVersion.process_key == key).order_by(ProcessVersion.version)))


def base_hash(app: Flask, version: int, key: str = "repair_dispatch") -> str:
    """Return a version's content hash (what the editor page carries)."""
    with app.app_context():
        digest = db.session.scalar(select(ProcessVersion.content_hash).where(
            ProcessVersion.process_key == key, ProcessVersion.version == version))
        assert digest is not None
        return digest


def renamed(xml: str) -> str:
    """Rename the dispatch task (派工 → 派工安排) as a process owner would in the modeler."""
    changed = xml.replace('<bpmn:userTask id="dispatch" name="派工"',
                          '<bpmn:userTask id="dispatch" name="派工安排"')
    assert changed != xml
    return changed


def editor_textarea(page: str) -> str:
    """Return the XML held by the editor page's form."""
    match = re.search(r'<textarea id="bpmn-xml" name="xml"[^>]*>(.*?)</textarea>', page, re.S)
    assert match
    return html.unescape(match.group(1))


def test_models_are_for_process_owners_and_admins(web: Flask) -> None:
    start_case(web, "repair_dispatch", repair(), "cs_assistant")
    for username in ("process_owner", "admin"):
        client, _ = signed_in(web, username)
        page = client.get("/models").get_data(as_text=True)
        assert "客户报修" in page and "/models/repair_dispatch/edit" in page
        assert 'href="/instances?process=repair_dispatch&amp;version=1">1</a>' in page  # one running case
    client, token = signed_in(web, "cs_manager")
    assert client.get("/models").status_code == 403
    assert client.get("/models/repair_dispatch/edit").status_code == 403
    response = client.post("/models/repair_dispatch/deploy", data={"xml": REPAIR_XML, "csrf_token": token})
    assert response.status_code == 403


def test_a_version_shows_its_tasks_and_downloads_with_its_hash_as_etag(web: Flask) -> None:
    client, _ = signed_in(web, "process_owner", lang="en")
    page = client.get("/models/repair_dispatch/versions/1").get_data(as_text=True)
    assert "Dispatch" in page and 'data-xml-src="/models/repair_dispatch/versions/1/xml"' in page
    response = client.get("/models/repair_dispatch/versions/1/xml?download=1")
    assert response.status_code == 200 and response.get_data(as_text=True) == REPAIR_XML
    assert response.headers["ETag"] == f'"{base_hash(web, 1)}"'
    assert "attachment" in response.headers["Content-Disposition"]
    assert client.get("/models/repair_dispatch/versions/9").status_code == 404


def test_the_editor_page_carries_the_base_version_hash(web: Flask) -> None:
    client, _ = signed_in(web, "process_owner")
    response = client.get("/models/repair_dispatch/edit")
    page = response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{base_hash(web, 1)}"'
    assert f'name="base_hash" value="{base_hash(web, 1)}"' in page
    assert editor_textarea(page) == REPAIR_XML
    assert "vendor/editor/editor.js" in page and "<script>" not in page


def test_check_lists_every_problem_and_marks_its_element(web: Flask) -> None:
    broken = (renamed(REPAIR_XML)
              .replace('name="维修技工 technician"', 'name="维修技工"')  # the lane names no role
              .replace('<pf:label lang="en">Foreman confirms</pf:label>', ""))
    assert broken.count("<pf:label") < REPAIR_XML.count("<pf:label")
    client, token = signed_in(web, "process_owner")
    response = client.post("/models/repair_dispatch/check",
                           data={"xml": broken, "base_hash": base_hash(web, 1), "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    found = re.search(r'id="modeler-problems">(.*?)</script>', page, re.S)
    assert found
    problems = json.loads(found.group(1))
    elements = {p["element_id"] for p in problems}
    assert {"Lane_technician", "foreman_confirm"} <= elements
    for element in elements:
        assert f'data-element="{element}"' in page  # each listed, each a link to its element
    assert "个问题" in page
    # The work is kept (written in the base version's layout, so the blank line left by the cut goes).
    assert normalized_lines(editor_textarea(page)) == normalized_lines(broken)
    assert versions(web) == [1]


def test_a_clean_check_says_so_and_stores_nothing(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    form = {"xml": renamed(REPAIR_XML), "base_hash": base_hash(web, 1), "csrf_token": token}
    response = client.post("/models/repair_dispatch/check", data=form)
    assert response.status_code == 200 and "No problems found" in response.get_data(as_text=True)
    assert versions(web) == [1]


def test_deploy_makes_version_2_while_a_version_1_case_runs_on(web: Flask) -> None:
    old_case = start_case(web, "repair_dispatch", repair("A-1"), "cs_assistant")
    client, token = signed_in(web, "process_owner", lang="en")
    form = {"xml": renamed(REPAIR_XML), "base_hash": base_hash(web, 1), "csrf_token": token}
    response = client.post("/models/repair_dispatch/deploy", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == "/models/repair_dispatch/versions/2"
    assert versions(web) == [1, 2]
    assert "Version 2 deployed" in client.get(response.headers["Location"]).get_data(as_text=True)
    new_case = start_case(web, "repair_dispatch", repair("B-2"), "cs_assistant")
    complete(web, old_case, "dispatch", {"trade": "plumbing", "technician": "technician"},
             "engineering_dispatcher")
    with web.app_context():
        on = {i.id: db.session.get(ProcessVersion, i.version_id).version  # type: ignore[union-attr]
              for i in db.session.scalars(select(ProcessInstance))}
    assert on == {old_case: 1, new_case: 2}
    assert status_of(web, old_case) == "running"
    admin, _ = signed_in(web, "admin")
    assert "派工安排" not in admin.get(f"/instances/{old_case}").get_data(as_text=True)


def test_deploying_the_same_file_again_keeps_the_version(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    response = client.post("/models/repair_dispatch/deploy", follow_redirects=True,
                           data={"xml": REPAIR_XML, "base_hash": base_hash(web, 1), "csrf_token": token})
    assert "Nothing changed: version 1 stays the newest." in response.get_data(as_text=True)
    assert versions(web) == [1]


def test_a_deploy_over_a_newer_version_is_refused(web: Flask) -> None:
    stale = base_hash(web, 1)
    first, token = signed_in(web, "process_owner")
    first.post("/models/repair_dispatch/deploy",
               data={"xml": renamed(REPAIR_XML), "base_hash": stale, "csrf_token": token})
    assert versions(web) == [1, 2]
    second, token2 = signed_in(web, "admin", lang="en")
    mine = REPAIR_XML.replace('name="到达现场"', 'name="到场"')
    response = second.post("/models/repair_dispatch/deploy",
                           data={"xml": mine, "base_hash": stale, "csrf_token": token2})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Version 2 was deployed by process_owner after you opened the editor" in page
    assert editor_textarea(page) == mine  # nothing typed is lost
    # The same with the HTTP precondition a script would send.
    response = second.post("/models/repair_dispatch/deploy", headers={"If-Match": f'"{stale}"'},
                           data={"xml": mine, "base_hash": base_hash(web, 2), "csrf_token": token2})
    assert response.status_code == 412
    assert versions(web) == [1, 2]


def test_an_invalid_deploy_is_refused_with_its_problems(web: Flask) -> None:
    client, token = signed_in(web, "process_owner")
    broken = REPAIR_XML.replace('name="客服助理 cs_assistant"', 'name="前台"')
    response = client.post("/models/repair_dispatch/deploy",
                           data={"xml": broken, "base_hash": base_hash(web, 1), "csrf_token": token})
    assert response.status_code == 422
    assert 'data-element="Lane_cs_assistant"' in response.get_data(as_text=True)
    assert versions(web) == [1]


def test_the_process_id_must_stay_the_key(web: Flask) -> None:
    client, token = signed_in(web, "process_owner")
    other = REPAIR_XML.replace('<bpmn:process id="repair_dispatch"', '<bpmn:process id="repair_two"').replace(
        'processRef="repair_dispatch"', 'processRef="repair_two"')
    response = client.post("/models/repair_dispatch/deploy",
                           data={"xml": other, "base_hash": base_hash(web, 1), "csrf_token": token})
    assert response.status_code == 422 and "repair_dispatch" in response.get_data(as_text=True)
    assert versions(web, "repair_two") == []


def test_deploy_needs_the_csrf_token(web: Flask) -> None:
    client, _ = signed_in(web, "process_owner")
    response = client.post("/models/repair_dispatch/deploy",
                           data={"xml": renamed(REPAIR_XML), "base_hash": base_hash(web, 1)})
    assert response.status_code == 400 and versions(web) == [1]


def test_compare_lists_renamed_tasks_changed_forms_and_the_xml_diff(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    changed = renamed(REPAIR_XML).replace(
        '<pf:field name="comments"',
        '<pf:field name="callback_note" type="text" label-zh="备注" label-en="Note"/>'
        '<pf:field name="comments"')
    assert changed.count("callback_note") == 1
    client.post("/models/repair_dispatch/deploy",
                data={"xml": changed, "base_hash": base_hash(web, 1), "csrf_token": token})
    page = client.get("/models/repair_dispatch/compare?a=1&b=2").get_data(as_text=True)
    assert re.search(r"Renamed <code>dispatch</code>: 派工.*→ 派工安排", page)
    assert "field added: <code>callback_note</code>" in page
    assert 'xmldiff__line--add">+' in page and 'xmldiff__line--del">-' in page
    assert client.get("/models/repair_dispatch/compare?a=x").status_code == 400
    assert client.get("/models/repair_dispatch/compare?a=1&b=7").status_code == 404


def test_a_new_process_starts_from_a_template_with_a_lane_per_role_and_deploys(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    response = client.post("/models/new", data={"key": "Bad Key", "name_zh": "", "name_en": "x",
                                                 "role": "nobody", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert all(f'id="{f}-error"' in page for f in ("key", "name_zh", "role"))
    response = client.post("/models/new", data={"key": "lost_and_found", "name_zh": "失物招领",
                                                 "name_en": "Lost and found", "role": "cs_assistant",
                                                 "lanes": ["nobody"], "csrf_token": token})
    assert response.status_code == 422 and 'id="lanes-error"' in response.get_data(as_text=True)
    response = client.post("/models/new", data={"key": "lost_and_found", "name_zh": "失物招领",
                                                 "name_en": "Lost and found", "role": "cs_assistant",
                                                 "lanes": ["cs_supervisor", "technician"],
                                                 "csrf_token": token})
    template = editor_textarea(response.get_data(as_text=True))
    # A lane per role picked: the first holds the start form, one user task and the end.
    assert 'name="客服助理 / 前台接待 cs_assistant"' in template and template.count("<bpmn:lane ") == 3
    assert all(f'id="Lane_{r}"' in template and f'bpmnElement="Lane_{r}"' in template
               for r in ("cs_assistant", "cs_supervisor", "technician"))
    assert template.count("<bpmn:userTask ") == 1 and "<pf:field " in template.split("</bpmn:startEvent>")[0]
    assert client.post("/models/new", data={"key": "repair_dispatch", "name_zh": "x", "name_en": "x",
                                            "role": "cs_assistant", "csrf_token": token}).status_code == 422
    response = client.post("/models/lost_and_found/deploy",
                           data={"xml": template, "base_hash": "", "csrf_token": token})
    assert response.status_code == 302 and versions(web, "lost_and_found") == [1]
    # A second "new" deploy with the same key is stale: the process exists now.
    form = {"xml": template.replace("失物招领", "失物"), "base_hash": "", "csrf_token": token}
    response = client.post("/models/lost_and_found/deploy", data=form)
    assert response.status_code == 409
    with web.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProcessVersion).where(
            ProcessVersion.process_key == "lost_and_found")) == 1


def test_an_editor_deploy_parses_the_diagram_once(web: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    real = definitions.parse_document

    def counted(xml: bytes | str, filename: str = "") -> object:
        parses.append(filename)
        return real(xml, filename)

    monkeypatch.setattr(definitions, "parse_document", counted)
    client, token = signed_in(web, "process_owner", lang="en")
    xml = renamed(REPAIR_XML).replace("</bpmn:definitions>", "<!-- parsed once -->\n</bpmn:definitions>")
    response = client.post("/models/repair_dispatch/deploy",
                           data={"xml": xml, "base_hash": base_hash(web, 1), "csrf_token": token})
    assert response.status_code == 302 and versions(web) == [1, 2]
    assert parses == ["repair_dispatch.bpmn"]


def drafts_in(app: Flask, key: str = "repair_dispatch") -> dict[str, str]:
    """Return each owner's stored draft XML of a process."""
    from engine.store.models import ProcessDraft

    with app.app_context():
        return {d.owner: d.bpmn_xml for d in db.session.scalars(
            select(ProcessDraft).where(ProcessDraft.process_key == key))}


def test_saving_stores_a_draft_per_owner_not_a_version_and_the_editor_reopens_it(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    form = {"xml": renamed(REPAIR_XML), "base_hash": base_hash(web, 1), "csrf_token": token}
    response = client.post("/models/repair_dispatch/save", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Draft saved" in page
    assert versions(web) == [1] and drafts_in(web) == {"process_owner": renamed(REPAIR_XML)}
    reopened = client.get("/models/repair_dispatch/edit").get_data(as_text=True)
    assert editor_textarea(reopened) == renamed(REPAIR_XML) and 'id="draft-status"' in reopened
    assert f'name="base_hash" value="{base_hash(web, 1)}"' in reopened  # still based on version 1
    assert 'id="discard-button"' in reopened and "data-unsaved=" in reopened


def test_a_second_owner_is_told_who_else_is_editing(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    client.post("/models/repair_dispatch/save",
                data={"xml": renamed(REPAIR_XML), "base_hash": base_hash(web, 1), "csrf_token": token})
    other, _ = signed_in(web, "admin", lang="en")
    page = other.get("/models/repair_dispatch/edit").get_data(as_text=True)
    assert 'id="other-editors"' in page and "<strong>process_owner</strong>" in page
    assert editor_textarea(page) == REPAIR_XML  # the other owner's draft stays theirs


def test_discard_drops_the_draft_and_deploy_consumes_it(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    form = {"xml": renamed(REPAIR_XML), "base_hash": base_hash(web, 1), "csrf_token": token}
    client.post("/models/repair_dispatch/save", data=form)
    response = client.post("/models/repair_dispatch/discard", data=form)
    assert response.status_code == 302 and drafts_in(web) == {}
    assert editor_textarea(client.get("/models/repair_dispatch/edit").get_data(as_text=True)) == REPAIR_XML
    client.post("/models/repair_dispatch/save", data=form)
    assert client.post("/models/repair_dispatch/deploy", data=form).status_code == 302
    assert versions(web) == [1, 2] and drafts_in(web) == {}


def test_problems_name_elements_by_title_and_tags_in_plain_words(web: Flask) -> None:
    broken = REPAIR_XML.replace('<pf:label lang="en">Foreman confirms</pf:label>', "")
    client, token = signed_in(web, "process_owner", lang="en")
    page = client.post("/models/repair_dispatch/save",
                       data={"xml": broken, "base_hash": base_hash(web, 1), "csrf_token": token}
                       ).get_data(as_text=True)
    found = re.search(r'id="modeler-problems">(.*?)</script>', page, re.S)
    assert found
    problems = json.loads(found.group(1))
    confirm = [p for p in problems if p["element_id"] == "foreman_confirm"]
    assert confirm and confirm[0]["title"] != "foreman_confirm"
    assert all("<pf:" not in p["message"] for p in problems)
    assert any("English title" in p["message"] for p in confirm)
    assert f'data-element="foreman_confirm">{html.escape(confirm[0]["title"])}</button>' in page


def test_an_unconnected_task_fails_the_check(web: Flask) -> None:
    lonely = REPAIR_XML.replace("</bpmn:process>", '<bpmn:task id="lonely" name="孤立"/></bpmn:process>', 1)
    client, token = signed_in(web, "process_owner", lang="en")
    response = client.post("/models/repair_dispatch/check",
                           data={"xml": lonely, "base_hash": base_hash(web, 1), "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "No flow leads to this element" in page and 'data-element="lonely">孤立</button>' in page


def test_the_form_preview_is_drawn_by_the_staff_form_renderer(web: Flask) -> None:
    client, token = signed_in(web, "process_owner", lang="en")
    response = client.post("/models/repair_dispatch/form-preview",
                           data={"xml": REPAIR_XML, "element": "dispatch", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="trade"' in page and 'name="technician"' in page and "<fieldset" in page
    assert page.count('value="electrical"') == 1  # the choice's options, as staff see them
    broken = REPAIR_XML.replace('name="trade" type="choice"', 'name="trade" type="colour"')
    page = client.post("/models/repair_dispatch/form-preview", data={
        "xml": broken, "element": "dispatch", "csrf_token": token}).get_data(as_text=True)
    assert "form-preview__problems" in page and "colour" in page
    page = client.post("/models/repair_dispatch/form-preview", data={
        "xml": REPAIR_XML, "element": "nowhere", "csrf_token": token}).get_data(as_text=True)
    assert "This element has no form." in page


def test_the_editor_page_carries_roles_and_its_labels_for_the_panel(web: Flask) -> None:
    client, _ = signed_in(web, "process_owner", lang="en")
    page = client.get("/models/repair_dispatch/edit").get_data(as_text=True)
    found = re.search(r'id="editor-config">(.*?)</script>', page, re.S)
    assert found
    config = json.loads(html.unescape(found.group(1)))
    technician = {"id": "technician", "title": "Maintenance technician", "lane": "维修技工 technician"}
    assert technician in config["roles"]
    assert config["lang"] == "en" and "choice" in config["fieldTypes"]
    assert config["text"]["titleEn"] == "English title"
