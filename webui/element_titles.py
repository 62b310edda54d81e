"""Name BPMN elements by their title in the reader's language, and say XML tags in plain words."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
PF_NS = "https://propertyflow.dev/schema/bpmn/1"

# What each XML spelling in an engine message means to a process owner (longest first when matching).
TAG_WORDS = {
    '<pf:label lang="en">': lazy_gettext("English title"),
    "<pf:label lang=\\\"en\\\">": lazy_gettext("English title"),
    "<pf:form/>": lazy_gettext("an empty form"),
    "<pf:form>": lazy_gettext("form"),
    "pf:form": lazy_gettext("form"),
    "pf:assignee": lazy_gettext("assignee"),
    "pf:role": lazy_gettext("role chosen at run time"),
    "pf:starters": lazy_gettext("who may start"),
    "pf:separation": lazy_gettext("separation of duties"),
    "pf:notStarter": lazy_gettext("not the starter"),
    "pf:notPerformerOf": lazy_gettext("not whoever did"),
    "pf:field": lazy_gettext("form field"),
    "pf:rule": lazy_gettext("form rule"),
    "pf:distinct": lazy_gettext("distinct-users check"),
    "pf:outcome": lazy_gettext("outcome"),
}
_TAGS = re.compile("|".join(re.escape(t) for t in sorted(TAG_WORDS, key=len, reverse=True)))


def parse_quietly(xml_text: str) -> Any:
    """Return the document's root, or None when the text is not XML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.fromstring(xml_text.encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def element_titles(xml_text: str, locale: str) -> dict[str, str]:
    """Return every element id's title in the locale (English label, else the Chinese name)."""
    root = parse_quietly(xml_text)
    if root is None:
        return {}
    titles: dict[str, str] = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN_NS or not node.get("id"):
            continue
        english = node.findtext(f"{{{BPMN_NS}}}extensionElements/{{{PF_NS}}}label") or ""
        name = (node.get("name") or "").strip()
        title = (english.strip() or name) if locale == "en" else (name or english.strip())
        if title:
            titles[node.get("id") or ""] = title
    for node in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        eid = node.get("id") or ""
        if eid not in titles:
            source = titles.get(node.get("sourceRef") or "", node.get("sourceRef") or "?")
            target = titles.get(node.get("targetRef") or "", node.get("targetRef") or "?")
            titles[eid] = _("the flow from %(source)s to %(target)s", source=source, target=target)
    return titles


def plain_message(message: str, titles: dict[str, str]) -> str:
    """Replace XML tags with words and quoted element ids with their titles."""
    text = _TAGS.sub(lambda m: str(TAG_WORDS[m.group(0)]), message)

    def quoted(match: re.Match[str]) -> str:
        inner = match.group(2)
        return f"{match.group(1)}{titles[inner]}{match.group(3)}" if inner in titles else match.group(0)

    return re.sub(r"(['‘「])([A-Za-z_][\w.-]*)(['’」])", quoted, text)
