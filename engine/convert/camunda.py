"""Convert a Camunda 7 (Camunda Modeler) BPMN file to this product's `pf` extensions, with a report."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.errors import InvalidBpmn, Problem
from engine.messages import Message, msg

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
PF_NS = "https://propertyflow.dev/schema/bpmn/1"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Camunda form field types and the product's field types they become.
FIELD_TYPES = {"string": "text", "long": "integer", "boolean": "boolean", "date": "date", "enum": "choice"}
# Camunda attributes that only steer Camunda's own runtime: dropping them changes nothing here.
HARMLESS = {
    "historyTimeToLive",
    "versionTag",
    "asyncBefore",
    "asyncAfter",
    "exclusive",
    "isStartableInTasklist",
    "jobPriority",
    "taskPriority",
    "priority",
}
# JUEL operators and literals and their Python spelling.
JUEL_WORDS = {
    "&&": " and ",
    "||": " or ",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "and": "and",
    "or": "or",
    "not": "not",
    "true": "True",
    "false": "False",
    "null": "None",
}
JUEL_TOKEN = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(&&|\|\||!=|!|\b[A-Za-z_]\w*\b)""")
DUE_DATE = re.compile(
    r"\$\{\s*dateTime\(\)\s*((?:\.plus(?:Minutes|Hours|Days|Weeks)\(\s*\d+\s*\)\s*)+)"
    r"(?:\.toDate\(\)\s*)?\}"
)
DUE_PART = re.compile(r"plus(Minutes|Hours|Days|Weeks)\(\s*(\d+)\s*\)")


@dataclass(frozen=True)
class ReportLine:
    """One finding of a conversion: the element (id and name), whether it was converted, and what."""

    element_id: str
    element_name: str
    converted: bool
    message: Message

    def to_dict(self) -> dict[str, Any]:
        """Return the line as plain data (the message in English; UIs translate it by its template)."""
        return {
            "element_id": self.element_id,
            "element_name": self.element_name,
            "converted": self.converted,
            "message": str(self.message),
        }


@dataclass
class Conversion:
    """The converted BPMN file and the report of what was converted and what could not be."""

    xml: bytes
    report: list[ReportLine] = field(default_factory=list)

    @property
    def converted(self) -> list[ReportLine]:
        """Lines describing what was converted."""
        return [line for line in self.report if line.converted]

    @property
    def not_converted(self) -> list[ReportLine]:
        """Lines describing what could not be converted, and why."""
        return [line for line in self.report if not line.converted]


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def juel_to_python(source: str) -> str | None:
    """Return a `${…}` JUEL expression in Python, or None when it uses what Python here cannot do."""
    text = source.strip()
    match = re.fullmatch(r"[$#]\{(.*)\}", text, re.S)
    if match is None:
        return None
    body = match.group(1).strip()
    body = re.sub(r"execution\.getVariable\(\s*(['\"])(\w+)\1\s*\)", r"\2", body)
    if re.search(r"\b(execution|task|\w+Service)\b|\w+\s*\.\s*\w+\s*\(", body):
        return None  # Camunda beans and Java method calls have no counterpart in the sandbox
    if "?" in body and ":" in body:
        return None  # JUEL's conditional operator: rewrite it by hand

    def token(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1)
        word = m.group(2)
        if word == "!":
            return " not "
        return JUEL_WORDS.get(word, word)

    python = JUEL_TOKEN.sub(token, body)
    return re.sub(r"[ ]{2,}", " ", python).strip()


class _Converter:
    """Walk one Camunda file once, rewriting its extensions in place and writing the report."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.report: list[ReportLine] = []

    def note(self, node: Any, converted: bool, message: Message) -> None:
        self.report.append(ReportLine(node.get("id") or "", node.get("name") or "", converted, message))

    def ext(self, node: Any) -> Any:
        """Return node's extensionElements, creating it as the first child when missing."""
        ext = node.find(_q(BPMN_NS, "extensionElements"))
        if ext is None:
            ext = etree.Element(_q(BPMN_NS, "extensionElements"))
            # documentation must stay first (XSD order)
            docs = node.findall(_q(BPMN_NS, "documentation"))
            node.insert(len(docs), ext)
        return ext

    def pf(self, node: Any, name: str, text: str | None = None, **attrs: str) -> Any:
        element = etree.SubElement(
            self.ext(node), _q(PF_NS, name), {k.replace("_", "-"): v for k, v in attrs.items()}
        )
        if text is not None:
            element.text = text
        return element

    def run(self, process: Any) -> None:
        self.process = process
        self._process(process)
        for node in list(process.iter()):
            if not isinstance(node.tag, str):
                continue
            tag = etree.QName(node).localname
            if etree.QName(node).namespace != BPMN_NS:
                continue
            if tag == "userTask":
                self._user_task(node)
            elif tag == "startEvent":
                self._form(node, start=True)
            elif tag == "sequenceFlow":
                self._condition(node)
            elif tag == "scriptTask":
                self._script(node)
            elif tag in ("serviceTask", "sendTask", "businessRuleTask"):
                self._service(node)
            elif tag == "timerEventDefinition":
                self._timer(node)
        self._lanes()
        self._strip_camunda()

    def _process(self, process: Any) -> None:
        if process.xpath("./bpmn:extensionElements/pf:label", namespaces={"bpmn": BPMN_NS, "pf": PF_NS}):
            return
        name = process.get("name") or process.get("id") or ""
        if not process.get("name"):
            process.set("name", name)
        self.pf(process, "label", name, lang="en")
        self.note(process, True, msg("English title copied from the name '{name}': translate it", name=name))

    def _user_task(self, node: Any) -> None:
        name = node.get("name") or node.get("id") or ""
        if not node.get("name"):
            node.set("name", name)
        self.pf(node, "label", name, lang="en")
        groups = [
            g.strip() for g in (node.get(_q(CAMUNDA_NS, "candidateGroups")) or "").split(",") if g.strip()
        ]
        if groups:
            node.set("_pf_role", groups[0])
            self.note(
                node, True, msg("candidate group '{group}' became the lane role '{group}'", group=groups[0])
            )
            if len(groups) > 1:
                self.note(
                    node,
                    False,
                    msg(
                        "candidate groups {groups} dropped: a task is offered to one role "
                        "(its lane's); use pf:role for a role chosen at run time",
                        groups=", ".join(groups[1:]),
                    ),
                )
        if node.get(_q(CAMUNDA_NS, "candidateUsers")):
            self.note(
                node,
                False,
                msg(
                    "candidate users '{users}' dropped: tasks are offered to a role; "
                    "use pf:assignee for one user",
                    users=node.get(_q(CAMUNDA_NS, "candidateUsers")),
                ),
            )
        assignee = node.get(_q(CAMUNDA_NS, "assignee"))
        if assignee:
            python = juel_to_python(assignee) if "$" in assignee or "#" in assignee else repr(assignee)
            if python is None:
                self.note(
                    node,
                    False,
                    msg(
                        "assignee '{value}' is not an expression this product can run: "
                        "write it in Python (e.g. a form field's name)",
                        value=assignee,
                    ),
                )
            else:
                self.pf(node, "assignee", python)
                self.note(
                    node,
                    True,
                    msg("assignee '{value}' became pf:assignee {python}", value=assignee, python=python),
                )
        if not groups and not node.get(_q(CAMUNDA_NS, "assignee")):
            self.note(node, False, msg("no candidate group: pick the lane's role in the editor"))
        self._form(node, start=False)
        due = node.get(_q(CAMUNDA_NS, "dueDate"))
        if due:
            self._due_date(node, due)

    def _form(self, node: Any, *, start: bool) -> None:
        form_key = node.get(_q(CAMUNDA_NS, "formKey")) or node.get(_q(CAMUNDA_NS, "formRef"))
        if form_key:
            self.note(
                node,
                False,
                msg("external form '{key}' dropped: build the form's fields in the editor", key=form_key),
            )
        fields = node.xpath(
            "./bpmn:extensionElements/camunda:formData/camunda:formField",
            namespaces={"bpmn": BPMN_NS, "camunda": CAMUNDA_NS},
        )
        legacy = node.xpath(
            "./bpmn:extensionElements/camunda:formField", namespaces={"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
        )
        fields = fields + legacy
        if not fields and start:
            return
        form = self.pf(node, "form")
        for source in fields:
            self._field(node, form, source)

    def _field(self, node: Any, form: Any, source: Any) -> None:
        name = source.get("id") or ""
        label = source.get("label") or name
        camunda_type = source.get("type") or "string"
        type_ = FIELD_TYPES.get(camunda_type)
        if type_ is None:
            type_ = "text"
            self.note(
                node,
                False,
                msg(
                    "field '{field}': type '{type}' is unknown here and became text",
                    field=name,
                    type=camunda_type,
                ),
            )
        out = etree.SubElement(
            form, _q(PF_NS, "field"), {"name": name, "type": type_, "label-zh": label, "label-en": label}
        )
        if source.get("defaultValue") is not None:
            out.set("default", source.get("defaultValue"))
        for value in source.findall(_q(CAMUNDA_NS, "value")):
            text = value.get("name") or value.get("id") or ""
            etree.SubElement(
                out, _q(PF_NS, "option"), {"value": value.get("id") or "", "label-zh": text, "label-en": text}
            )
        for constraint in source.xpath(
            "./camunda:validation/camunda:constraint", namespaces={"camunda": CAMUNDA_NS}
        ):
            kind, config = constraint.get("name") or "", constraint.get("config")
            if kind == "required":
                out.set("required", "true")
            elif kind in ("min", "max") and config and type_ in ("integer", "date"):
                out.set(kind, config)
            elif kind == "maxlength" and config:
                out.set("max-length", config)
            else:
                self.note(
                    node,
                    False,
                    msg(
                        "field '{field}': constraint '{kind}' has no counterpart and was dropped",
                        field=name,
                        kind=kind,
                    ),
                )
        self.note(
            node,
            True,
            msg(
                "form field '{field}' ({type}) became a field of type {pf_type}",
                field=name,
                type=camunda_type,
                pf_type=type_,
            ),
        )

    def _due_date(self, node: Any, due: str) -> None:
        match = DUE_DATE.fullmatch(due.strip())
        if match is not None:
            units = {"Minutes": 0, "Hours": 0, "Days": 0, "Weeks": 0}
            for unit, count in DUE_PART.findall(match.group(1)):
                units[unit] += int(count)
            days = units["Days"] + 7 * units["Weeks"]
            clock = f"{units['Hours']}H" * bool(units["Hours"]) + f"{units['Minutes']}M" * bool(
                units["Minutes"]
            )
            duration = "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
            kind, value = "timeDuration", duration if duration != "P" else "PT0M"
        elif re.fullmatch(r"P(?:\d+[YMWD])*(?:T(?:\d+[HMS])+)?", due.strip()):
            kind, value = "timeDuration", due.strip()
        elif re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?", due.strip()):
            kind, value = "timeDate", due.strip()
        else:
            self.note(
                node,
                False,
                msg(
                    "due date '{value}' is not a fixed delay or date: add a deadline "
                    "(a timer on the task) in the editor",
                    value=due,
                ),
            )
            return
        eid = f"{node.get('id')}_deadline"
        event = etree.Element(
            _q(BPMN_NS, "boundaryEvent"),
            {"id": eid, "name": "期限", "attachedToRef": node.get("id") or "", "cancelActivity": "false"},
        )
        ext = etree.SubElement(event, _q(BPMN_NS, "extensionElements"))
        etree.SubElement(ext, _q(PF_NS, "escalation"))
        timer = etree.SubElement(event, _q(BPMN_NS, "timerEventDefinition"), {"id": f"{eid}_timer"})
        etree.SubElement(timer, _q(BPMN_NS, kind)).text = value
        node.addnext(event)
        self._draw_boundary(node.get("id") or "", eid)
        self.note(
            node,
            True,
            msg(
                "due date '{value}' became a deadline timer ({kind} {timer}) that marks the task overdue",
                value=due,
                kind=kind,
                timer=value,
            ),
        )

    def _draw_boundary(self, task_id: str, event_id: str) -> None:
        """Draw the new deadline on the task's bottom-right corner, so editors show it."""
        for shape in self.root.iter(_q(DI_NS, "BPMNShape")):
            bounds = shape.find(_q(DC_NS, "Bounds"))
            if shape.get("bpmnElement") != task_id or bounds is None:
                continue
            x = float(bounds.get("x") or 0) + float(bounds.get("width") or 100) - 36
            y = float(bounds.get("y") or 0) + float(bounds.get("height") or 80) - 18
            new = etree.Element(_q(DI_NS, "BPMNShape"), {"id": f"{event_id}_di", "bpmnElement": event_id})
            etree.SubElement(
                new, _q(DC_NS, "Bounds"), {"x": f"{x:g}", "y": f"{y:g}", "width": "36", "height": "36"}
            )
            shape.addnext(new)
            return

    def _condition(self, node: Any) -> None:
        condition = node.find(_q(BPMN_NS, "conditionExpression"))
        if condition is None:
            return
        source = condition.text or ""
        if condition.get("language"):
            self.note(
                node,
                False,
                msg(
                    "condition in {language} cannot run here: rewrite it in Python",
                    language=condition.get("language"),
                ),
            )
            return
        python = juel_to_python(source)
        if python is None:
            self.note(
                node,
                False,
                msg("condition '{value}' could not be converted: rewrite it in Python", value=source.strip()),
            )
            return
        condition.text = python
        self.note(
            node, True, msg("condition '{value}' became '{python}'", value=source.strip(), python=python)
        )

    def _script(self, node: Any) -> None:
        language = (node.get("scriptFormat") or "").lower()
        if language != "python":
            self.note(
                node,
                False,
                msg("script in '{language}' cannot run here: rewrite it in Python", language=language or "?"),
            )
        if node.get(_q(CAMUNDA_NS, "resource")):
            self.note(node, False, msg("external script resource dropped: put the script in the task"))

    def _service(self, node: Any) -> None:
        for attr in ("class", "delegateExpression", "expression", "type", "topic", "decisionRef"):
            value = node.get(_q(CAMUNDA_NS, attr))
            if value:
                self.note(
                    node,
                    False,
                    msg(
                        "Java/external implementation ({attr}='{value}') dropped: "
                        "use a script task calling a registered service",
                        attr=attr,
                        value=value,
                    ),
                )

    def _timer(self, node: Any) -> None:
        for part in node:
            if not isinstance(part.tag, str):
                continue
            text = (part.text or "").strip()
            if text.startswith(("${", "#{")):
                python = juel_to_python(text)
                owner = node.getparent()
                if python is None:
                    self.note(
                        owner,
                        False,
                        msg(
                            "timer '{value}' could not be converted: use a duration "
                            "(PT15M) or working_hours(n)",
                            value=text,
                        ),
                    )
                else:
                    part.text = python
                    self.note(
                        owner, True, msg("timer '{value}' became '{python}'", value=text, python=python)
                    )

    def _lanes(self) -> None:
        """Give every lane the role of its tasks' candidate group; add lanes when the file has none."""
        roles = {n.get("id"): n.attrib.pop("_pf_role") for n in self.process.iter() if n.get("_pf_role")}
        lanes = list(self.process.iter(_q(BPMN_NS, "lane")))
        if not lanes:
            if not roles:
                return
            lane_set = self.process.find(_q(BPMN_NS, "laneSet"))
            if lane_set is None:
                lane_set = etree.Element(_q(BPMN_NS, "laneSet"), {"id": f"{self.process.get('id')}_lanes"})
                anchor = self.process.find(_q(BPMN_NS, "extensionElements"))
                docs = len(self.process.findall(_q(BPMN_NS, "documentation")))
                self.process.insert(docs + (anchor is not None), lane_set)
            for role in dict.fromkeys(roles.values()):
                lane = etree.SubElement(lane_set, _q(BPMN_NS, "lane"), {"id": f"lane_{role}", "name": role})
                for task, task_role in roles.items():
                    if task_role == role:
                        etree.SubElement(lane, _q(BPMN_NS, "flowNodeRef")).text = task
                self.note(
                    lane,
                    True,
                    msg(
                        "lane '{role}' added for the tasks of candidate group '{role}' "
                        "(drawn by the editor once you place it)",
                        role=role,
                    ),
                )
            return
        for lane in lanes:
            refs = [(r.text or "").strip() for r in lane.findall(_q(BPMN_NS, "flowNodeRef"))]
            lane_roles = sorted({roles[r] for r in refs if r in roles})
            if len(lane_roles) == 1:
                lane.set("name", f"{lane.get('name') or ''} {lane_roles[0]}".strip())
                self.note(
                    lane,
                    True,
                    msg("lane named after role '{role}' (its tasks' candidate group)", role=lane_roles[0]),
                )
            elif len(lane_roles) > 1:
                self.note(
                    lane,
                    False,
                    msg(
                        "its tasks name different candidate groups ({roles}): split the "
                        "lane or pick one role",
                        roles=", ".join(lane_roles),
                    ),
                )

    def _strip_camunda(self) -> None:
        """Remove every remaining Camunda element and attribute, reporting those that mattered."""
        for node in list(self.root.iter()):
            if not isinstance(node.tag, str):
                continue
            if etree.QName(node).namespace == CAMUNDA_NS:
                parent = node.getparent()
                if parent is None or etree.QName(parent).namespace == CAMUNDA_NS:
                    continue  # removed with its Camunda parent
                name = etree.QName(node).localname
                if name not in ("formData", "formField"):
                    owner = parent.getparent() if parent.tag == _q(BPMN_NS, "extensionElements") else parent
                    self.note(
                        owner, False, msg("camunda:{name} dropped: it has no counterpart here", name=name)
                    )
                parent.remove(node)
                continue
            for attr in list(node.attrib):
                qname = etree.QName(attr)
                if qname.namespace == CAMUNDA_NS:
                    del node.attrib[attr]
                    if qname.localname not in HARMLESS | {
                        "candidateGroups",
                        "candidateUsers",
                        "assignee",
                        "dueDate",
                        "formKey",
                        "formRef",
                        "class",
                        "delegateExpression",
                        "expression",
                        "type",
                        "topic",
                        "decisionRef",
                        "resource",
                    }:
                        self.note(
                            node,
                            False,
                            msg("camunda:{name} dropped: it has no counterpart here", name=qname.localname),
                        )
        for ext in list(self.root.iter(_q(BPMN_NS, "extensionElements"))):
            if len(ext) == 0 and ext.getparent() is not None:
                ext.getparent().remove(ext)


def convert(xml: bytes | str) -> Conversion:
    """Convert a Camunda 7 BPMN file; raise InvalidBpmn when it is no BPMN file with an executable process."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, remove_blank_text=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidBpmn(
            [Problem(None, msg("the file is not well-formed XML: {reason}", reason=str(exc)))]
        ) from exc
    if root.tag != _q(BPMN_NS, "definitions"):
        raise InvalidBpmn(
            [Problem(None, msg("the file is not a BPMN 2.0 document (root must be bpmn:definitions)"))]
        )
    processes = [p for p in root.findall(_q(BPMN_NS, "process")) if p.get("isExecutable") == "true"]
    if len(processes) != 1:
        raise InvalidBpmn(
            [
                Problem(
                    None,
                    msg(
                        "the file must hold exactly one executable process, not {count}", count=len(processes)
                    ),
                )
            ]
        )
    converter = _Converter(root)
    converter.run(processes[0])
    nsmap = {k: v for k, v in (root.nsmap or {}).items() if v != CAMUNDA_NS}
    nsmap["pf"] = PF_NS
    new_root = etree.Element(root.tag, root.attrib, nsmap=nsmap)
    new_root.text = root.text
    for child in root:
        new_root.append(child)
    etree.cleanup_namespaces(new_root, top_nsmap={"pf": PF_NS})
    body = etree.tostring(new_root, xml_declaration=True, encoding="UTF-8")
    return Conversion(body, converter.report)
