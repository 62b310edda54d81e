"""The editor's save keeps the file's text: only the changed elements' lines differ."""
from __future__ import annotations

import difflib
from pathlib import Path

from lxml import etree

from webui.xml_keep import keep_layout

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
ORIGINAL = (Path(__file__).resolve().parents[2] / "processes" / "key_loan.bpmn").read_text(encoding="utf-8")


def rewritten(edit: object) -> str:
    """Return the file as a modeler writes it: other indentation, attribute order and element order."""
    root = etree.fromstring(ORIGINAL.encode(), etree.XMLParser(remove_blank_text=True))
    for element in root.iter():
        if isinstance(element.tag, str) and len(element.attrib) > 1:
            attrs = sorted(element.attrib.items(), reverse=True)
            element.attrib.clear()
            element.attrib.update(attrs)
    process = root.find(f"{BPMN}process")
    flows = process.findall(f"{BPMN}sequenceFlow")
    for flow in flows:  # the modeler writes flows in its own order
        process.remove(flow)
        process.insert(1, flow)
    edit(root)  # type: ignore[operator]
    return str(etree.tostring(root, pretty_print=True, encoding="unicode"))


def changed_lines(text: str) -> list[str]:
    """Return the removed and added lines of text against the shipped file."""
    return [line for line in difflib.unified_diff(ORIGINAL.splitlines(), text.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("---", "+++"))]


def test_a_renamed_task_is_a_one_line_change() -> None:
    def rename(root: etree._Element) -> None:
        root.find(f".//{BPMN}userTask[@id='approve_loan']").set("name", "部门负责人审批")
    assert changed_lines(keep_layout(ORIGINAL, rewritten(rename))) == [
        '-    <bpmn:userTask id="approve_loan" name="部门负责人批准">',
        '+    <bpmn:userTask id="approve_loan" name="部门负责人审批">']


def test_an_added_element_is_inserted_and_nothing_else_moves() -> None:
    def add(root: etree._Element) -> None:
        process = root.find(f"{BPMN}process")
        etree.SubElement(process, f"{BPMN}task", id="extra", name="新任务")
    lines = changed_lines(keep_layout(ORIGINAL, rewritten(add)))
    assert lines == ['+    <bpmn:task id="extra" name="新任务"/>']


def test_reordered_form_fields_follow_the_editor() -> None:
    def swap(root: etree._Element) -> None:
        form = next(f for f in root.iter("{https://propertyflow.dev/schema/bpmn/1}form") if len(f) > 1)
        first = form[0]
        form.remove(first)
        form.append(first)
    merged = keep_layout(ORIGINAL, rewritten(swap))
    root = etree.fromstring(merged.encode())
    form = next(f for f in root.iter("{https://propertyflow.dev/schema/bpmn/1}form") if len(f) > 1)
    original_form = next(f for f in etree.fromstring(ORIGINAL.encode()).iter(
        "{https://propertyflow.dev/schema/bpmn/1}form") if len(f) > 1)
    assert form[-1].get("name") == original_form[0].get("name")


def test_text_that_is_not_xml_is_kept_as_typed() -> None:
    assert keep_layout(ORIGINAL, "<broken") == "<broken"
