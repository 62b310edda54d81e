"""The editor's live form preview: a pf:form of the edited diagram drawn by the staff form renderer."""

from __future__ import annotations

from typing import Any

from flask import render_template

from engine.forms.parser import PF_NS, parse_form

from .case_view import CaseModel
from .element_titles import BPMN_NS, parse_quietly
from .extensions import db
from .forms_render import FormBuilder
from .problem_text import problem_text


def form_node(xml_text: str, element_id: str) -> Any:
    """Return the pf:form of the element with that id in the diagram, or None."""
    root = parse_quietly(xml_text)
    if root is None:
        return None
    for node in root.iter():
        if isinstance(node.tag, str) and node.get("id") == element_id:
            return node.find(f"{{{BPMN_NS}}}extensionElements/{{{PF_NS}}}form")
    return None


def render_preview(xml_text: str, element_id: str) -> str:
    """Render the element's form exactly as staff see it, with the form's problems above it."""
    node = form_node(xml_text, element_id)
    form, problems = parse_form(node, element_id)
    fields = FormBuilder(db.session(), form.to_dict() if form else None, {}, CaseModel({})).views()
    return render_template(
        "models/_form_preview.html",
        fields=fields,
        has_form=node is not None,
        problems=[problem_text(p) for p in problems],
    )
