"""The return step offers issued minus used: a value the form's own rule pins is filled in."""

from __future__ import annotations

from engine.forms.model import FormDef
from engine.sandbox.scripting import SandboxEnvironment
from webui.prefill import pinned_value

RETURN_FORM = FormDef.from_dict({
    "fields": [{"name": "returned_quantity", "type": "number", "label_zh": "退回数量",
                "label_en": "Returned"}],
    "rules": [{"field": "returned_quantity",
               "expr": "round(returned_quantity - (issued_quantity - used_quantity), 3) == 0",
               "message_zh": "退回数量必须等于发放数量减去使用数量",
               "message_en": "Returned must equal issued minus used"}]})


def test_the_return_is_prefilled_with_issued_minus_used() -> None:
    evaluate = SandboxEnvironment().evaluate
    assert pinned_value(RETURN_FORM, "returned_quantity", {"issued_quantity": 2.5, "used_quantity": 1.2},
                        evaluate) == 1.3


def test_nothing_is_prefilled_when_the_case_lacks_a_value_the_rule_reads() -> None:
    evaluate = SandboxEnvironment().evaluate
    assert pinned_value(RETURN_FORM, "returned_quantity", {"issued_quantity": 2.5}, evaluate) is None
    assert pinned_value(RETURN_FORM, "other", {"issued_quantity": 2.5, "used_quantity": 1}, evaluate) is None
