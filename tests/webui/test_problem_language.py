"""Problems of a refused BPMN file appear in the UI language: Chinese by default, English unchanged."""

from __future__ import annotations

import ast
import html
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from flask import Flask
from sqlalchemy import select

from engine.definitions import compile_process
from engine.errors import InvalidBpmn
from engine.messages import Message, msg
from engine.store.models import ProcessVersion
from webui.extensions import db
from webui.problem_text import problem_text

from .conftest import PROCESSES, SOURCE_TRANSLATIONS
from .test_instances import signed_in

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "data" / "hostile"
REPAIR_XML = (PROCESSES / "repair_dispatch.bpmn").read_text(encoding="utf-8")
# The customer-service lane loses its role id: one problem at Lane_cs_assistant.
NO_ROLE_LANE = REPAIR_XML.replace('name="客服助理 cs_assistant"', 'name="前台"')


def catalog(locale: str) -> Catalog:
    """Return the committed catalog of a locale."""
    with (SOURCE_TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def deploy_page(app: Flask, xml: str, lang: str) -> tuple[str, list[dict[str, str]]]:
    """Deploy xml through the editor page in a language; return the page text and its marker JSON."""
    client, token = signed_in(app, "process_owner", lang=lang)
    with app.app_context():
        digest = db.session.scalar(select(ProcessVersion.content_hash).where(
            ProcessVersion.process_key == "repair_dispatch"))
    response = client.post("/models/repair_dispatch/deploy",
                           data={"xml": xml, "base_hash": digest, "csrf_token": token})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    found = re.search(r'id="modeler-problems">(.*?)</script>', page, re.S)
    assert found
    return html.unescape(page), json.loads(found.group(1))


def test_the_editor_shows_deploy_problems_in_chinese(web: Flask) -> None:
    page, problems = deploy_page(web, NO_ROLE_LANE, "zh")
    chinese = "泳道名称 '前台' 没有以岗位 id 结尾（cs_assistant, "
    assert 'data-element="Lane_cs_assistant">前台</button>: ' + chinese in page
    assert "does not end with a role id" not in page
    marker = next(p for p in problems if p["element_id"] == "Lane_cs_assistant")
    assert marker["message"].startswith(chinese)  # the diagram's markers say the same


def test_the_editor_shows_deploy_problems_in_english(web: Flask) -> None:
    page, problems = deploy_page(web, NO_ROLE_LANE, "en")
    english = "lane name '前台' does not end with a role id (cs_assistant, "
    assert 'data-element="Lane_cs_assistant">前台</button>: ' + english in page
    assert "泳道名称" not in page
    assert any(p["message"].startswith(english) for p in problems)


def test_the_editor_translates_nested_parts_and_keeps_foreign_text(web: Flask) -> None:
    page, _ = deploy_page(web, (HOSTILE / "no_process.bpmn").read_text(encoding="utf-8"), "zh")
    assert '一个文件必须恰好包含一个可执行流程（isExecutable="true"）；实际找到：无' in page  # "none" too
    page, _ = deploy_page(web, (HOSTILE / "truncated.bpmn").read_text(encoding="utf-8"), "zh")
    assert "XML 格式不正确：Couldn't find end of Start Tag startEvent" in page  # libxml2's words kept


def test_problem_text_translates_templates_and_parameters(app: Flask) -> None:
    where = msg("{where} option #{number}", where="pf:field 'kind'", number=2)
    problem = msg("{where} has no value", where=where)
    assert problem == "pf:field 'kind' option #2 has no value"  # still the English str everywhere else
    with app.test_request_context():
        assert problem_text(problem, "zh") == "pf:field 'kind' 的第 2 个选项 缺少 value"
        assert problem_text(problem, "en") == "pf:field 'kind' option #2 has no value"
        assert problem_text("plain text from elsewhere", "zh") == "plain text from elsewhere"
        # A template whose parameters do not fit falls back to the English text.
        assert problem_text(Message("as sent", "{missing}", {}), "zh") == "as sent"


def _templates_in_source() -> dict[str, str]:
    """Return every msg() template in engine/ and webui/ with where it is used."""
    found: dict[str, str] = {}
    for folder in ("engine", "webui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "msg":
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    first = node.args[0] if node.args else None
                    # A computed template could not be found in the catalog, so it must be a literal.
                    assert isinstance(first, ast.Constant) and isinstance(first.value, str), where
                    found.setdefault(first.value, where)
    return found


def _fields(text: str) -> list[str]:
    """Return the placeholders of a format string, with their format specs."""
    return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name)


def test_every_engine_message_template_has_a_chinese_translation() -> None:
    templates = _templates_in_source()
    assert len(templates) > 50, "msg() calls were not found"
    zh, en = catalog("zh"), catalog("en")
    missing = [f"{t!r} ({w})" for t, w in templates.items() if t not in zh or not zh[t].string]
    assert not missing, "add these to webui/translations/zh/LC_MESSAGES/messages.po:\n" + "\n".join(missing)
    untranslated_en = [t for t in templates if t not in en]
    assert not untranslated_en, "add these to the en catalog (msgstr empty): " + repr(untranslated_en)
    wrong = [t for t in templates if _fields(str(zh[t].string)) != _fields(t)]
    assert not wrong, f"the Chinese text must keep the same placeholders: {wrong}"
    assert all(en[t].string in ("", t) for t in templates)


def _parts(message: str) -> Iterator[Message | str]:
    """Yield a message and every Message among its parameters."""
    yield message
    if isinstance(message, Message):
        for value in message.params.values():
            if isinstance(value, Message):
                yield from _parts(value)


def test_every_problem_of_the_hostile_files_is_a_translated_message() -> None:
    zh = catalog("zh")
    seen = 0
    for path in sorted(HOSTILE.glob("*.bpmn")):
        try:
            compile_process(path.read_bytes(), path.name)
        except InvalidBpmn as err:
            for problem in err.problems:
                for part in _parts(problem.message):
                    assert isinstance(part, Message), f"{path.name}: {part!r} is not made with msg()"
                    assert part.template in zh and zh[part.template].string, (path.name, part.template)
                    seen += 1
    assert seen > 50
