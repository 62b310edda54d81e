"""The strict `pf:form` parser: every problem of a form is reported, naming its element."""

from __future__ import annotations

import keyword
import math
from typing import Any

from lxml import etree

from engine import domain
from engine.forms.coercion import NUMBER_RE, Invalid, coerce, is_blank
from engine.forms.model import (
    FIELD_TYPES,
    NAME_RE,
    ORDERED_TYPES,
    TEXT_TYPES,
    DistinctDef,
    FieldDef,
    FormDef,
    Option,
    RuleDef,
)
from engine.messages import msg

PF_NS = "https://propertyflow.dev/schema/bpmn/1"
MAX_DECIMALS = 9  # a float keeps about 15 significant digits; more places would be noise
# Variables the engine sets on every instance: a field of that name would overwrite them.
ENGINE_VARIABLES = frozenset({
    "initiator", "initiator_roles", "started_at", "performed_by", "outcome", "instance_id",
})


def reserved_names() -> frozenset[str]:
    """Return the names a field may not take: engine variables, engine and domain functions."""
    return ENGINE_VARIABLES | domain.ENGINE_FUNCTIONS | frozenset(domain.current().services)

# dict, not Mapping: the engine's sandbox evaluator takes a dict, and we always pass a fresh one.

_FIELD_ATTRS = frozenset({"name", "type", "label-zh", "label-en", "required", "required-when", "min", "max",
                          "max-length", "role", "help-zh", "help-en", "default", "decimals"})
_OPTION_ATTRS = frozenset({"value", "label-zh", "label-en"})
_RULE_ATTRS = frozenset({"field", "expr", "message-zh", "message-en"})
_DISTINCT_ATTRS = frozenset({"fields", "message-zh", "message-en"})


def _tag_name(node: Any) -> str:
    """Return pf:local for our namespace, {ns}local otherwise."""
    qname = etree.QName(node)
    return f"pf:{qname.localname}" if qname.namespace == PF_NS else node.tag


def _pf_local(node: Any) -> str | None:
    """Return the local name of a pf: element, None for other elements."""
    qname = etree.QName(node)
    return qname.localname if qname.namespace == PF_NS else None


def _attr(node: Any, name: str) -> str:
    """Return an attribute's stripped value, empty when it is absent."""
    return (node.get(name) or "").strip()


def _elements(node: Any) -> list[Any]:
    """Return child elements, skipping comments and processing instructions."""
    return [child for child in node if isinstance(child.tag, str)]


class _FormReader:
    """Read one pf:form, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.types: dict[str, str | None] = {}  # declared name → type (None when the type was bad)

    def problem(self, text: str) -> None:
        """Record one problem."""
        self.problems.append(text)

    def check_node(self, node: Any, where: str, allowed: frozenset[str]) -> None:
        """Report unknown attributes and stray text on node."""
        for key in node.attrib:
            if key not in allowed:
                self.problem(msg("{where} has unknown attribute '{key}'", where=where, key=key))
        texts = [node.text] + [child.tail for child in node]
        if any(t and t.strip() for t in texts):
            self.problem(msg("{where} contains text; only elements are allowed there", where=where))

    def check_leaf(self, node: Any, where: str, allowed: frozenset[str]) -> None:
        """Check node like check_node and report any child element: it may hold none."""
        self.check_node(node, where, allowed)
        for bad in _elements(node):
            self.problem(msg("unknown element {tag} in {where}", tag=_tag_name(bad), where=where))

    def read(self, node: Any) -> FormDef:
        """Return the form built from every well-formed part of node."""
        self.check_node(node, "pf:form", frozenset())
        fields: list[FieldDef] = []
        rule_nodes, distinct_nodes = [], []
        for index, child in enumerate(_elements(node), start=1):
            kind = _pf_local(child)
            if kind == "field":
                field = self.read_field(child, index)
                if field is not None:
                    fields.append(field)
            elif kind == "rule":
                rule_nodes.append(child)
            elif kind == "distinct":
                distinct_nodes.append(child)
            else:
                self.problem(msg("unknown element {tag} in pf:form "
                                 "(expected pf:field, pf:rule or pf:distinct)", tag=_tag_name(child)))
        # Rules may precede the fields they name, so they are read once every field is known.
        rules = [r for i, n in enumerate(rule_nodes, start=1) if (r := self.read_rule(n, i))]
        groups = [d for i, n in enumerate(distinct_nodes, start=1) if (d := self.read_distinct(n, i))]
        return FormDef(tuple(fields), tuple(rules), tuple(groups))

    def read_name(self, node: Any, index: int) -> str | None:
        """Return the field's name if it is usable, recording why not otherwise."""
        name = node.get("name")
        if name is None or not name.strip():
            self.problem(msg("pf:field #{index} has no name", index=index))
            return None
        if name.startswith("_"):
            self.problem(msg("pf:field name '{name}' must not start with '_'", name=name))
        elif not NAME_RE.fullmatch(name) or keyword.iskeyword(name):
            self.problem(msg("pf:field name '{name}' is not a valid identifier "
                             "(ASCII letters, digits and '_', starting with a letter)", name=name))
        elif name in reserved_names():
            self.problem(msg("pf:field name '{name}' is reserved for a variable or function the engine "
                             "provides", name=name))
        elif name in self.types:
            self.problem(msg("duplicate pf:field name '{name}'", name=name))
        else:
            return name
        return None

    def read_field(self, node: Any, index: int) -> FieldDef | None:
        """Return one field, or None when it is too broken to use (its problems are recorded)."""
        raw_name = _attr(node, "name")
        name = self.read_name(node, index)
        # Only element names and values: nothing to translate, so a plain string (msg() elsewhere).
        where = f"pf:field '{raw_name}'" if raw_name else f"pf:field #{index}"
        self.check_node(node, where, _FIELD_ATTRS)
        kind = node.get("type")
        if kind is None:
            self.problem(msg("{where} has no type", where=where))
        elif kind not in FIELD_TYPES:
            self.problem(msg("{where} has unknown type '{kind}' (expected one of {choices})",
                             where=where, kind=kind, choices=", ".join(FIELD_TYPES)))
            kind = None
        # Bad names are remembered too, so a rule naming one is not reported a second time.
        if raw_name:
            self.types.setdefault(raw_name, kind)
        labels = {attr: _attr(node, attr) for attr in ("label-zh", "label-en")}
        for attr, label in labels.items():
            if not label:
                self.problem(msg("{where} has no {attr}", where=where, attr=attr))
        required = self.read_bool(node, "required", where)
        required_when = node.get("required-when")
        if required_when is not None and not required_when.strip():
            self.problem(msg("{where} has an empty required-when", where=where))
        if required and required_when:
            self.problem(msg("{where} has both required=\"true\" and required-when; keep one", where=where))
        options = self.read_options(node, where, kind)
        if kind is None:
            return None  # min, max, default… cannot be judged without the type
        parts = {
            "min": self.read_limit(node, "min", raw_name, kind, where),
            "max": self.read_limit(node, "max", raw_name, kind, where),
            "max_length": self.read_max_length(node, kind, where),
            "decimals": self.read_decimals(node, kind, where),
            "role": self.read_role(node, kind, where),
            "default": self.read_default(node, kind, options, where),
        }
        low, high = parts["min"], parts["max"]
        if isinstance(low, float) and isinstance(high, float) and low > high:
            self.problem(msg("{where}: min {low:g} is greater than max {high:g}",
                             where=where, low=low, high=high))
        if name is None:
            return None
        return FieldDef(
            name=name, type=kind, label_zh=labels["label-zh"], label_en=labels["label-en"],
            required=required, required_when=(required_when or "").strip() or None, options=options,
            help_zh=_attr(node, "help-zh") or None, help_en=_attr(node, "help-en") or None, **parts,
        )

    def read_bool(self, node: Any, attr: str, where: str) -> bool:
        """Return a true/false attribute (absent = false)."""
        raw = node.get(attr)
        if raw not in (None, "true", "false"):
            self.problem(msg("{where}: {attr} must be 'true' or 'false', not '{raw}'",
                             where=where, attr=attr, raw=raw))
        return raw == "true"

    def read_options(self, node: Any, where: str, kind: str | None) -> tuple[Option, ...]:
        """Return the pf:option children of a choice field."""
        options: list[Option] = []
        for child in _elements(node):
            if _pf_local(child) != "option":
                self.problem(msg("unknown element {tag} in {where} (only pf:option is allowed)",
                                 tag=_tag_name(child), where=where))
                continue
            if kind != "choice":
                if kind is not None:  # an unknown type is reported already
                    self.problem(msg("{where}: pf:option is only allowed in choice fields", where=where))
                continue
            value = _attr(child, "value")
            option_where = (msg("{where} option '{value}'", where=where, value=value) if value
                            else msg("{where} option #{number}", where=where, number=len(options) + 1))
            self.check_leaf(child, option_where, _OPTION_ATTRS)
            zh, en = _attr(child, "label-zh"), _attr(child, "label-en")
            if not value:
                self.problem(msg("{where} has no value", where=option_where))
            elif any(o.value == value for o in options):
                self.problem(msg("{where} has duplicate option value '{value}'", where=where, value=value))
            if not zh or not en:
                self.problem(msg("{where} needs both label-zh and label-en", where=option_where))
            if value and not any(o.value == value for o in options):
                options.append(Option(value, zh, en))
        if kind == "choice" and not options:
            self.problem(msg("{where} is a choice field without pf:option children", where=where))
        return tuple(options)

    def read_limit(self, node: Any, attr: str, name: str, kind: str, where: str) -> float | str | None:
        """Return min/max: a literal of the field's scale, or the name of another field or variable."""
        raw = node.get(attr)
        if raw is None:
            return None
        text = raw.strip()
        if kind not in ORDERED_TYPES:
            self.problem(msg("{where}: {attr} applies only to integer, number, date and datetime fields",
                             where=where, attr=attr))
            return None
        if NAME_RE.fullmatch(text) and not keyword.iskeyword(text):
            if text == name:
                self.problem(msg("{where}: {attr} refers to the field itself", where=where, attr=attr))
            return text
        if kind in ("integer", "number") and NUMBER_RE.fullmatch(text) and math.isfinite(float(text)):
            return float(text)
        if kind in ("date", "datetime"):
            try:
                return str(coerce(kind, text))
            except Invalid:
                pass
        scale = msg("a number") if kind in ("integer", "number") else msg("an ISO {kind}", kind=kind)
        self.problem(msg("{where}: {attr} '{raw}' is neither {scale} nor a field or variable name",
                         where=where, attr=attr, raw=raw, scale=scale))
        return None

    def read_max_length(self, node: Any, kind: str, where: str) -> int | None:
        """Return max-length, a positive whole number for text fields."""
        raw = node.get("max-length")
        if raw is None:
            return None
        if kind not in TEXT_TYPES:
            self.problem(msg("{where}: max-length applies only to text and textarea fields", where=where))
        elif not raw.strip().isdigit() or int(raw) < 1:
            self.problem(msg("{where}: max-length must be a positive whole number, not '{raw}'",
                             where=where, raw=raw))
        else:
            return int(raw)
        return None

    def read_decimals(self, node: Any, kind: str, where: str) -> int | None:
        """Return decimals, the most decimal places a number field accepts (0 to MAX_DECIMALS)."""
        raw = node.get("decimals")
        if raw is None:
            return None
        if kind != "number":
            self.problem(msg("{where}: decimals applies only to number fields", where=where))
        elif not raw.strip().isdigit() or int(raw) > MAX_DECIMALS:
            self.problem(msg("{where}: decimals must be a whole number from 0 to {most}, not '{raw}'",
                             where=where, most=MAX_DECIMALS, raw=raw))
        else:
            return int(raw)
        return None

    def read_role(self, node: Any, kind: str, where: str) -> str | None:
        """Return the role a user field's user must hold."""
        role = node.get("role")
        if role is None:
            return None
        if kind != "user":
            self.problem(msg("{where}: role applies only to user fields", where=where))
        elif not NAME_RE.fullmatch(role.strip()):
            self.problem(msg("{where}: role '{role}' is not a role id", where=where, role=role))
        else:
            return role.strip()
        return None

    def read_default(self, node: Any, kind: str, options: tuple[Option, ...], where: str) -> Any:
        """Return the default, read as the field's type so a bad one fails at deploy."""
        raw = node.get("default")
        if raw is None:
            return None
        if is_blank(raw):
            self.problem(msg("{where} has an empty default", where=where))
            return None
        try:
            return coerce(kind, raw, [o.value for o in options])
        except Invalid:
            self.problem(msg("{where}: default '{raw}' is not a valid {kind} value",
                             where=where, raw=raw, kind=kind))
            return None

    def read_rule(self, node: Any, index: int) -> RuleDef | None:
        """Return one pf:rule, or None when it is incomplete."""
        field = _attr(node, "field")
        where = msg("pf:rule on '{field}'", field=field) if field else f"pf:rule #{index}"
        self.check_leaf(node, where, _RULE_ATTRS)
        values = {attr: _attr(node, attr) for attr in sorted(_RULE_ATTRS)}
        for attr, value in values.items():
            if not value:
                self.problem(msg("{where} has no {attr}", where=where, attr=attr))
        if field and field not in self.types:
            self.problem(msg("{where} names field '{field}', which the form does not declare",
                             where=where, field=field))
        if not all(values.values()) or field not in self.types:
            return None
        return RuleDef(field, values["expr"], values["message-zh"], values["message-en"])

    def read_distinct(self, node: Any, index: int) -> DistinctDef | None:
        """Return one pf:distinct group of user fields, or None when it is broken."""
        where = f"pf:distinct #{index}"
        self.check_leaf(node, where, _DISTINCT_ATTRS)
        names = (node.get("fields") or "").split()
        ok = True
        if len(names) < 2:
            self.problem(msg("{where} must name at least two fields", where=where))
            ok = False
        if len(set(names)) != len(names):
            self.problem(msg("{where} names a field twice", where=where))
            ok = False
        for name in dict.fromkeys(names):
            if name not in self.types:
                self.problem(msg("{where} names field '{field}', which the form does not declare",
                                 where=where, field=name))
                ok = False
            elif self.types[name] not in ("user", None):
                self.problem(msg("{where} names field '{field}', which is not a user field",
                                 where=where, field=name))
                ok = False
        zh, en = _attr(node, "message-zh"), _attr(node, "message-en")
        if bool(zh) != bool(en):
            self.problem(msg("{where} needs both message-zh and message-en, or neither", where=where))
        return DistinctDef(tuple(names), zh or None, en or None) if ok else None


def parse_form(node: Any, element_id: str) -> tuple[FormDef | None, list[str]]:
    """Read a pf:form element; return the form (None if node is None) and every problem found."""
    # The form is built from its well-formed parts even when there are problems, so the caller can
    # still check its expressions; it is only fit to run when the problem list is empty.
    if node is None:
        return None, []
    if _pf_local(node) != "form":
        raise ValueError(f"{element_id}: parse_form expects a pf:form element, not {node.tag}")
    reader = _FormReader()
    form = reader.read(node)
    return form, reader.problems
