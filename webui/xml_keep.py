"""Carry the modeler's edits into the original file text, so unchanged elements keep their text and order."""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from lxml import etree

_PARSER_OPTIONS: dict[str, Any] = {"resolve_entities": False, "no_network": True, "load_dtd": False}
_KEY_ATTRS = ("id", "lang", "name", "key", "role", "field", "bpmnElement")
# Siblings identified by these: their order carries no meaning (the modeler writes its own order).
_UNORDERED_KEYS = (("id",), ("bpmnElement",), ("#text",))
# What bpmn-js adds to diagram shapes on every save (drawing defaults), left out when the file lacked it.
_MODELER_DEFAULTS = frozenset({"isMarkerVisible", "isHorizontal", "isExpanded"})
_LABEL = "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNLabel"


def _parse(text: str) -> Any:
    """Parse XML text (no entities, no network); raise etree.XMLSyntaxError when it is not XML."""
    return etree.fromstring(text.encode("utf-8"), etree.XMLParser(**_PARSER_OPTIONS))


def _key(node: Any) -> tuple[str, ...]:
    """Return what identifies a child among its siblings: its tag plus an id-like attribute or its text."""
    if not isinstance(node.tag, str):
        return ("#other", str(node.text))
    for attr in _KEY_ATTRS:
        if attr in node.attrib:
            return (node.tag, attr, node.attrib[attr])
    if len(node) == 0 and (node.text or "").strip() and node.tag.endswith(("}incoming", "}outgoing",
                                                                            "}flowNodeRef")):
        return (node.tag, "#text", node.text.strip())
    return (node.tag,)


def _same_value(old: str, new: str) -> bool:
    """Tell whether two attribute values mean the same (the modeler writes 100.0 as 100)."""
    if old == new:
        return True
    try:
        return float(old) == float(new)
    except ValueError:
        return False


def _canonical(node: Any) -> Any:
    """Return a comparable form of an element: tag, attributes (numbers as numbers), text, children."""
    if not isinstance(node.tag, str):
        return None

    def value(v: str) -> Any:
        try:
            return float(v)
        except ValueError:
            return v
    elements = [child for child in node if isinstance(child.tag, str)]
    ordered = [_canonical(c) for c in elements if _key(c)[1:2] not in _UNORDERED_KEYS]
    unordered = sorted(repr(_canonical(c)) for c in elements if _key(c)[1:2] in _UNORDERED_KEYS)
    return (node.tag, sorted((k, value(v)) for k, v in node.attrib.items()), (node.text or "").strip(),
            ordered, unordered)


def _merge(old: Any, new: Any) -> None:
    """Make `old` say what `new` says, touching only what differs (attribute order and whitespace kept)."""
    for name in [n for n in old.attrib if n not in new.attrib]:
        del old.attrib[name]
    for name in [n for n in new.attrib if n in _MODELER_DEFAULTS and n not in old.attrib]:
        del new.attrib[name]
    for child in [c for c in new if c.tag == _LABEL and not len(c) and not c.attrib]:
        if not any(o.tag == _LABEL for o in old):
            new.remove(child)
    for name, value in new.attrib.items():
        if name not in old.attrib or not _same_value(old.attrib[name], value):
            old.attrib[name] = value
    new_children = [c for c in new if isinstance(c.tag, str)]
    if not new_children and not [c for c in old if isinstance(c.tag, str)]:
        if (old.text or "").strip() != (new.text or "").strip():
            old.text = new.text
        return
    pools: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for child in old:
        if isinstance(child.tag, str):
            pools[_key(child)].append(child)
    pairs: list[tuple[Any, Any | None]] = []  # (new child, matching old child or None)
    for child in new_children:
        pool = pools.get(_key(child))
        pairs.append((child, pool.pop(0) if pool else None))
    matched = [o for _n, o in pairs if o is not None]
    old_elements = [c for c in old if isinstance(c.tag, str)]
    kept_order = [c for c in old_elements if any(c is m for m in matched)]
    for new_child, old_child in pairs:
        if old_child is not None:
            _merge(old_child, new_child)
    def ordered(children: list[Any]) -> list[Any]:
        return [c for c in children if _key(c)[1:2] not in _UNORDERED_KEYS]
    if ordered(kept_order) == ordered(matched):
        # Same order: keep every old child where it is; put each new one after its predecessor.
        result: list[Any] = [c for c in old if not isinstance(c.tag, str) or any(c is m for m in matched)]
        previous = None
        for new_child, old_child in pairs:
            if old_child is not None:
                previous = old_child
                continue
            inserted = copy.deepcopy(new_child)
            at = 0 if previous is None else next(i for i, c in enumerate(result) if c is previous) + 1
            result.insert(at, inserted)
            previous = inserted
    else:  # the modeler reordered the children (e.g. form fields): follow it
        result = [o if o is not None else copy.deepcopy(n) for n, o in pairs]
    inner = old.text if len(old) else new.text
    between = next((c.tail for c in old_elements[:-1] if c.tail is not None), inner)
    closing = old_elements[-1].tail if old_elements else (new_children[-1].tail if new_children else None)
    for child in list(old):
        old.remove(child)
    if len(result) and not old_elements:
        old.text = inner
    for i, child in enumerate(result):
        child.tail = closing if i == len(result) - 1 else between
        old.append(child)


def keep_layout(original: str, edited: str) -> str:
    """Return `edited` written as `original` is, so only the changed elements' lines differ.

    Falls back to `edited` as it is when either text is not XML or the merge would change its meaning."""
    try:
        old_root, new_root = _parse(original), _parse(edited)
    except etree.XMLSyntaxError:
        return edited
    if old_root.tag != new_root.tag:
        return edited
    for name in ("exporter", "exporterVersion"):  # the modeler signs the file; keep the file's own signature
        if name in old_root.attrib:
            new_root.attrib[name] = old_root.attrib[name]
    _merge(old_root, new_root)
    if _canonical(old_root) != _canonical(new_root) or any(p not in old_root.nsmap for p in new_root.nsmap):
        return edited
    body = etree.tostring(old_root, encoding="unicode")
    prefix = old_root.prefix + ":" if old_root.prefix else ""
    start = original.find("<" + prefix + etree.QName(old_root).localname)
    head = original[:start] if start >= 0 else ""
    end = original.rstrip()
    tail = original[len(end):]
    return head + body + tail
