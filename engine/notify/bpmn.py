"""The pf:notify extension: a flow node that tells roles or users something when the process reaches it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from engine import domain
from engine.forms.parser import PF_NS
from engine.messages import Message, msg

LANGS = ("zh", "en")


def read_notify(node: Any, report: Callable[[Message], None]) -> dict[str, Any] | None:
    """Return the model of a node's pf:notify (None without one), reporting each problem."""
    found = node.xpath("./bpmn:extensionElements/pf:notify",
                       namespaces={"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "pf": PF_NS})
    if not found:
        return None
    if len(found) > 1:
        report(msg("an element may carry only one pf:notify"))
    spec = found[0]
    roles = (spec.get("roles") or "").split()
    users = (spec.get("users") or "").split()
    for role in roles:
        if not domain.current().is_known_role(role):
            report(msg("pf:notify names unknown role '{role}'", role=role))
    if not roles and not users:
        report(msg("pf:notify needs roles=\"…\" or users=\"…\" to tell someone"))
    urgent = (spec.get("urgent") or "false").strip().lower()
    if urgent not in ("true", "false"):
        report(msg("pf:notify urgent='{value}' is not true or false", value=urgent))
    messages: dict[str, str] = {}
    for child in spec:
        if not isinstance(child.tag, str):
            continue
        if etree.QName(child).namespace != PF_NS or etree.QName(child).localname != "message":
            report(msg("pf:notify holds only pf:message elements, not {tag}",
                       tag=etree.QName(child).localname))
            continue
        lang = child.get("lang") or "zh"
        if lang not in LANGS:
            report(msg("pf:message lang='{lang}' is not zh or en", lang=lang))
            continue
        messages[lang] = (child.text or "").strip()
    if not messages.get("zh"):
        report(msg("pf:notify needs a Chinese <pf:message lang=\"zh\"> text"))
    return {"roles": roles, "users": users, "urgent": urgent == "true",
            "message_zh": messages.get("zh", ""), "message_en": messages.get("en", "")}
