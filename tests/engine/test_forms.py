"""Forms: strict pf:form parsing, submission validation and description."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from lxml import etree

from engine.forms.coercion import FormSchema
from engine.forms.description import describe_form
from engine.forms.messages import Message
from engine.forms.model import FieldDef, FormDef
from engine.forms.parser import PF_NS, parse_form
from engine.forms.validation import validate_submission

USERS = {
    "tech1": frozenset({"technician"}),
    "asst1": frozenset({"cs_assistant"}),
    "asst2": frozenset({"cs_assistant"}),
    "guard1": frozenset({"security_guard"}),
}


def evaluate(expr: str, data: dict[str, Any]) -> Any:
    """Evaluate like the sandbox would, for tests only."""
    return eval(expr, {"__builtins__": {}}, dict(data))


def user_roles(username: str) -> frozenset[str] | None:
    """Return the roles of a test user."""
    return USERS.get(username)


def parse(body: str) -> tuple[FormDef | None, list[str]]:
    """Parse a pf:form whose children are body."""
    return parse_form(etree.fromstring(f'<pf:form xmlns:pf="{PF_NS}">{body}</pf:form>'), "task_1")


def form_of(body: str) -> FormDef:
    """Parse a form that must have no problems."""
    form, problems = parse(body)
    assert problems == []
    assert form is not None
    return form


def check(form: FormDef | FormSchema, submitted: dict[str, Any], context: dict[str, Any] | None = None,
          ) -> tuple[dict[str, Any], dict[str, list[Message]]]:
    """Validate with the test evaluator and user store."""
    return validate_submission(form, submitted, context or {}, evaluate, user_roles)


def codes(errors: dict[str, list[Message]]) -> dict[str, list[str]]:
    """Return the message codes per field."""
    return {name: [m.code for m in msgs] for name, msgs in errors.items()}


def field(name: str, kind: str, extra: str = "", children: str = "") -> str:
    """Return a pf:field snippet with labels."""
    return (f'<pf:field name="{name}" type="{kind}" label-zh="{name}中" label-en="{name} en" {extra}>'
            f"{children}</pf:field>")


MESSAGES = 'message-zh="甲" message-en="A"'
LABELS = 'label-zh="甲" label-en="A"'
ELECTRICAL = '<pf:option value="electrical" label-zh="电工" label-en="Electrical"/>'
TRADES = ELECTRICAL + '<pf:option value="plumbing" label-zh="水工" label-en="Plumbing"/>'
ONE_OF_EACH = form_of("".join([
    field("t", "text"), field("ta", "textarea"), field("i", "integer"), field("n", "number"),
    field("b", "boolean"), field("c", "choice", children=TRADES), field("d", "date"),
    field("dt", "datetime"), field("u", "user"),
]))


# ------------------------------------------------------------------------------------ coercion

@pytest.mark.parametrize(("name", "given", "expected"), [
    ("t", "  hello  ", "hello"),
    ("ta", "line one\nline two \n", "line one\nline two"),
    ("i", 5, 5),
    ("i", "42", 42),
    ("i", 7.0, 7),
    ("i", "１２", 12),  # full-width digits from a Chinese input method
    ("n", "3.5", 3.5),
    ("n", 2, 2.0),
    ("n", " -0.25 ", -0.25),
    ("b", True, True),
    ("b", "true", True),
    ("b", "false", False),
    ("b", "1", True),
    ("b", "0", False),
    ("b", "on", True),
    ("b", "yes", True),
    ("b", "no", False),
    ("c", "plumbing", "plumbing"),
    ("d", "2024-05-01", "2024-05-01"),
    ("d", date(2024, 5, 1), "2024-05-01"),
    ("dt", "2024-05-01T10:00", "2024-05-01T02:00:00+00:00"),  # naive = Asia/Shanghai
    ("dt", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
    ("dt", "2024-05-01T10:00+08:00", "2024-05-01T02:00:00+00:00"),
    ("u", " tech1 ", "tech1"),
])
def test_each_type_coerces_and_normalises_accepted_values(name: str, given: Any, expected: Any) -> None:
    clean, errors = check(ONE_OF_EACH, {name: given})
    assert errors == {}
    assert clean == {name: expected}
    assert type(clean[name]) is type(expected)


@pytest.mark.parametrize(("name", "given", "code"), [
    ("t", 12, "invalid_text"),
    ("t", "a\x00b", "invalid_text"),
    ("ta", ["x"], "invalid_text"),
    ("i", True, "invalid_integer"),
    ("i", 2.5, "invalid_integer"),
    ("i", "2.5", "invalid_integer"),
    ("i", "twelve", "invalid_integer"),
    ("i", 2**60, "invalid_integer"),
    ("n", "nan", "invalid_number"),
    ("n", "inf", "invalid_number"),
    ("n", float("inf"), "invalid_number"),
    ("n", "1_000", "invalid_number"),
    ("n", False, "invalid_number"),
    ("n", {"a": 1}, "invalid_number"),
    ("b", "maybe", "invalid_boolean"),
    ("b", 2, "invalid_boolean"),
    ("c", "gas", "invalid_choice"),
    ("c", 1, "invalid_choice"),
    ("d", "2024-02-30", "invalid_date"),
    ("d", "01/05/2024", "invalid_date"),
    ("d", "2024-05-01T10:00", "invalid_date"),
    ("dt", "tomorrow", "invalid_datetime"),
    ("dt", 1714550400, "invalid_datetime"),
    ("u", 5, "invalid_user"),
])
def test_each_type_rejects_values_of_the_wrong_kind(name: str, given: Any, code: str) -> None:
    clean, errors = check(ONE_OF_EACH, {name: given})
    assert codes(errors) == {name: [code]}
    assert clean == {}


def test_rejection_messages_come_in_english_and_chinese() -> None:
    _, errors = check(ONE_OF_EACH, {"i": "2.5"})
    assert errors["i"] == [Message("invalid_integer", "Enter a whole number.", "请输入整数")]


def test_text_longer_than_max_length_is_refused_with_the_limit_in_the_message() -> None:
    form = form_of(field("note", "text", 'max-length="5"'))
    _, errors = check(form, {"note": "abcdef"})
    assert codes(errors) == {"note": ["too_long"]}
    assert "5" in errors["note"][0].en and "5" in errors["note"][0].zh
    assert check(form, {"note": "  abcde  "}) == ({"note": "abcde"}, {})


def test_text_without_max_length_is_capped_to_protect_instance_state() -> None:
    _, errors = check(ONE_OF_EACH, {"t": "x" * 501})
    assert codes(errors) == {"t": ["too_long"]}


def test_a_field_named_like_a_schema_method_still_validates() -> None:
    form = form_of(field("load", "integer") + field("fields", "text"))
    assert check(form, {"load": "3", "fields": "x"}) == ({"load": 3, "fields": "x"}, {})


def test_unknown_submitted_key_is_reported_on_that_key() -> None:
    clean, errors = check(ONE_OF_EACH, {"t": "ok", "bogus": 1})
    assert codes(errors) == {"bogus": ["unknown_field"]}
    assert clean == {"t": "ok"}


# ------------------------------------------------------------------------- required, defaults

REPAIR = form_of(
    field("result", "textarea", 'required="true"')
    + field("fixed", "boolean", 'required="true"')
    + field("charge_amount", "number", 'min="0" required-when="paid"')
)


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_required_field_given_blank_is_refused(blank: Any) -> None:
    _, errors = check(REPAIR, {"result": blank, "fixed": False}, {"paid": False})
    assert errors == {"result": [Message("required", "This field is required.", "此项为必填")]}


def test_required_field_left_out_is_refused() -> None:
    assert codes(check(REPAIR, {"result": "done"}, {"paid": False})[1]) == {"fixed": ["required"]}


def test_false_satisfies_a_required_boolean() -> None:
    assert check(REPAIR, {"result": "done", "fixed": "false"}, {"paid": False}) == (
        {"result": "done", "fixed": False}, {})


@pytest.mark.parametrize(("paid", "submitted", "expected_errors", "expected_clean"), [
    (True, {}, {"charge_amount": ["required"]}, {}),
    (True, {"charge_amount": "120.5"}, {}, {"charge_amount": 120.5}),
    (False, {}, {}, {}),
    (True, {"charge_amount": "-1"}, {"charge_amount": ["too_small"]}, {}),
])
def test_charge_amount_is_required_when_the_work_is_paid(
    paid: bool, submitted: dict[str, Any], expected_errors: dict[str, list[str]],
    expected_clean: dict[str, Any],
) -> None:
    clean, errors = check(REPAIR, {"result": "done", "fixed": True, **submitted}, {"paid": paid})
    assert codes(errors) == expected_errors
    assert {k: v for k, v in clean.items() if k == "charge_amount"} == expected_clean


def test_required_when_sees_other_fields_of_the_same_submission() -> None:
    form = form_of(field("anomaly", "boolean") + field("anomaly_description", "text",
                                                       'required-when="anomaly"'))
    assert codes(check(form, {"anomaly": "on"})[1]) == {"anomaly_description": ["required"]}
    assert check(form, {"anomaly": "off"}) == ({"anomaly": False}, {})


def test_required_when_that_fails_to_evaluate_is_reported_not_raised() -> None:
    form = form_of(field("x", "text", 'required-when="missing_variable"'))
    _, errors = check(form, {})
    assert codes(errors) == {"x": ["rule_error"]}
    assert "NameError" in errors["x"][0].en


def test_optional_field_left_out_is_absent_from_clean_data() -> None:
    assert check(ONE_OF_EACH, {}) == ({}, {})


def test_default_fills_an_absent_value() -> None:
    form = form_of(field("method", "choice", 'default="phone"',
                         '<pf:option value="phone" label-zh="电话" label-en="Phone"/>'
                         '<pf:option value="face_to_face" label-zh="面访" label-en="In person"/>')
                   + field("copies", "integer", 'default="1"'))
    assert check(form, {"copies": ""}) == ({"method": "phone", "copies": 1}, {})
    chosen = {"method": "face_to_face", "copies": 3}
    assert check(form, chosen) == (chosen, {})


# ----------------------------------------------------------------------------------------- limits

HAZARD_APPROVE = form_of(field("approved", "boolean", 'required="true"')
                         + field("approved_quantity", "integer", 'min="0" max="quantity"'))


@pytest.mark.parametrize(("approved_quantity", "expected"), [
    (5, {}), (3, {}), (6, {"approved_quantity": ["too_large"]}),
])
def test_approved_quantity_may_not_exceed_the_requested_quantity(
    approved_quantity: int, expected: dict[str, list[str]]
) -> None:
    _, errors = check(HAZARD_APPROVE, {"approved": True, "approved_quantity": approved_quantity},
                      {"quantity": 5.0})
    assert codes(errors) == expected
    if expected:
        assert errors["approved_quantity"][0].en == "Must be at most 5."
        assert errors["approved_quantity"][0].zh == "不得大于 5"


def test_limit_naming_a_field_of_the_same_form_shows_its_label() -> None:
    form = form_of(field("issued", "number") + field("used", "number", 'max="issued"'))
    _, errors = check(form, {"issued": 2, "used": 3})
    assert errors["used"] == [
        Message("too_large", "Must be at most 2 (issued en).", "不得大于 2（issued中）")]


def test_limit_naming_a_missing_variable_is_skipped() -> None:
    assert check(HAZARD_APPROVE, {"approved": True, "approved_quantity": 99}) == (
        {"approved": True, "approved_quantity": 99}, {})


def test_datetime_limit_compares_instants_across_timezones() -> None:
    form = form_of(field("opened_at", "datetime") + field("closed_at", "datetime", 'min="opened_at"'))
    _, errors = check(form, {"opened_at": "2024-05-01T10:00", "closed_at": "2024-05-01T01:59Z"})
    assert codes(errors) == {"closed_at": ["too_early"]}
    assert "2024-05-01 10:00" in errors["closed_at"][0].en  # shown in Shanghai wall time
    assert check(form, {"opened_at": "2024-05-01T10:00", "closed_at": "2024-05-01T02:00Z"})[1] == {}


def test_date_limit_given_as_a_literal() -> None:
    form = form_of(field("day", "date", 'min="2024-01-01" max="2024-12-31"'))
    assert codes(check(form, {"day": "2025-01-01"})[1]) == {"day": ["too_late"]}
    assert codes(check(form, {"day": "2023-12-31"})[1]) == {"day": ["too_early"]}
    assert check(form, {"day": "2024-06-30"})[1] == {}


# ------------------------------------------------------------------------------- rules, distinct

RETURN_UNUSED = form_of(
    field("returned_quantity", "number", 'required="true"')
    + '<pf:rule field="returned_quantity" expr="returned_quantity == issued_quantity - used_quantity"'
      ' message-zh="退回数量必须等于领用减使用" message-en="Returned must equal issued minus used"/>'
)


def test_rule_accepts_returned_equal_to_issued_minus_used() -> None:
    context = {"issued_quantity": 10.0, "used_quantity": 3.0}
    assert check(RETURN_UNUSED, {"returned_quantity": "7"}, context) == ({"returned_quantity": 7.0}, {})


def test_rule_reports_its_message_in_both_languages() -> None:
    _, errors = check(RETURN_UNUSED, {"returned_quantity": 6}, {"issued_quantity": 10, "used_quantity": 3})
    assert errors == {"returned_quantity": [
        Message("rule", "Returned must equal issued minus used", "退回数量必须等于领用减使用")]}


def test_rule_that_raises_is_reported_as_rule_error_with_the_reason() -> None:
    _, errors = check(RETURN_UNUSED, {"returned_quantity": 6}, {"issued_quantity": 10})
    assert codes(errors) == {"returned_quantity": ["rule_error"]}
    assert "used_quantity" in errors["returned_quantity"][0].en


def test_rules_do_not_run_while_a_field_is_refused() -> None:
    def refuse(expr: str, data: dict[str, Any]) -> Any:
        raise AssertionError("rule evaluated")

    form = form_of(field("a", "integer") + field("b", "integer")
                   + '<pf:rule field="a" expr="a &lt; b" message-zh="甲" message-en="A"/>')
    _, errors = validate_submission(form, {"a": 1, "b": "x"}, {}, refuse, user_roles)
    assert codes(errors) == {"b": ["invalid_integer"]}


OPEN_UNIT = form_of(
    field("assistant_1", "user", 'role="cs_assistant" required="true"')
    + field("assistant_2", "user", 'role="cs_assistant" required="true"')
    + field("security_guard", "user", 'role="security_guard" required="true"')
    + '<pf:distinct fields="assistant_1 assistant_2 security_guard"'
      ' message-zh="三人必须是不同的人" message-en="Three different people are required"/>'
)


def test_three_distinct_users_are_accepted() -> None:
    submitted = {"assistant_1": "asst1", "assistant_2": "asst2", "security_guard": "guard1"}
    assert check(OPEN_UNIT, submitted) == (submitted, {})


def test_distinct_reports_each_repeated_user_after_the_first() -> None:
    _, errors = check(OPEN_UNIT, {"assistant_1": "asst1", "assistant_2": "asst1", "security_guard": "guard1"})
    assert errors == {"assistant_2": [
        Message("not_distinct", "Three different people are required", "三人必须是不同的人")]}


def test_distinct_without_messages_names_the_first_field() -> None:
    form = form_of(field("a", "user") + field("b", "user") + '<pf:distinct fields="a b"/>')
    _, errors = check(form, {"a": "tech1", "b": "tech1"})
    assert errors == {"b": [
        Message("not_distinct", "Must be a different person from a en.", "不能与a中为同一人")]}


@pytest.mark.parametrize(("username", "code"), [("nobody", "unknown_user"), ("tech1", "missing_role")])
def test_user_field_needs_an_existing_user_holding_the_role(username: str, code: str) -> None:
    submitted = {"assistant_1": username, "assistant_2": "asst2", "security_guard": "guard1"}
    _, errors = check(OPEN_UNIT, submitted)
    assert codes(errors) == {"assistant_1": [code]}
    if code == "missing_role":
        assert "cs_assistant" in errors["assistant_1"][0].en and "cs_assistant" in errors["assistant_1"][0].zh


@pytest.mark.parametrize("junk", [[], {}, object(), b"bytes", -1])
def test_junk_values_give_messages_never_exceptions(junk: Any) -> None:
    clean, errors = check(ONE_OF_EACH, dict.fromkeys(("t", "ta", "i", "n", "b", "c", "d", "dt", "u"), junk))
    assert clean.keys() <= {"i", "n"}  # -1 is a fine number
    assert all(msgs for msgs in errors.values())


# ---------------------------------------------------------------------------------------- parsing

def test_a_full_form_parses_without_problems_and_lists_its_expressions() -> None:
    form = form_of(
        "<!-- comments are allowed -->"
        + field("trade", "choice", 'required="true" help-zh="选工种" help-en="Pick a trade"', TRADES)
        + field("technician", "user", 'role="technician"')
        + field("charge_amount", "number", 'min="0" max="1e6" required-when="paid"')
        + '<pf:rule field="charge_amount" expr="charge_amount &lt; 5000" ' + MESSAGES + "/>"
    )
    assert [f.name for f in form.fields] == ["trade", "technician", "charge_amount"]
    assert form.field("technician") == FieldDef("technician", "user", "technician中", "technician en",
                                                role="technician")
    assert form.field("nope") is None
    assert form.expressions() == [("pf:field 'charge_amount' required-when", "paid"),
                                  ("pf:rule on 'charge_amount'", "charge_amount < 5000")]


def test_no_form_element_means_no_form_and_no_problems() -> None:
    assert parse_form(None, "task_1") == (None, [])


def test_parse_form_given_another_element_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="task_1"):
        parse_form(etree.fromstring(f'<pf:label xmlns:pf="{PF_NS}"/>'), "task_1")


@pytest.mark.parametrize(("body", "expected"), [
    (field("x", "strng"), "unknown type 'strng'"),
    ('<pf:field type="text" label-zh="甲" label-en="A"/>', "pf:field #1 has no name"),
    (field("x", "text") + field("x", "integer"), "duplicate pf:field name 'x'"),
    (field("charge-amount", "text"), "'charge-amount' is not a valid identifier"),
    (field("class", "text"), "'class' is not a valid identifier"),
    (field("_secret", "text"), "must not start with '_'"),
    (field("initiator", "user"), "'initiator' is reserved"),
    ('<pf:field name="x" type="text" label-en="X"/>', "has no label-zh"),
    ('<pf:field name="x" type="text" label-zh="甲"/>', "has no label-en"),
    (field("x", "choice"), "choice field without pf:option"),
    (field("x", "choice", children=ELECTRICAL + f"<pf:option {LABELS}/>"), "#2 has no value"),
    (field("x", "choice", children='<pf:option value="a" label-zh="甲"/>'), "needs both label-zh and"),
    (field("x", "choice", children=TRADES + ELECTRICAL), "duplicate option value 'electrical'"),
    (field("x", "text", children=ELECTRICAL), "pf:option is only allowed in choice fields"),
    (field("x", "number", 'min="1..2"'), "min '1..2' is neither a number nor a field or variable name"),
    (field("x", "date", 'max="next week"'), "max 'next week' is neither an ISO date"),
    (field("x", "number", 'min="5" max="1"'), "min 5 is greater than max 1"),
    (field("x", "number", 'max="x"'), "max refers to the field itself"),
    (field("x", "text", 'min="1"'), "min applies only to integer, number, date and datetime fields"),
    (field("x", "integer", 'max-length="5"'), "max-length applies only to text"),
    (field("x", "text", 'max-length="-3"'), "max-length must be a positive whole number"),
    (field("x", "text", 'role="technician"'), "role applies only to user fields"),
    (field("x", "text", 'required="yes"'), "required must be 'true' or 'false', not 'yes'"),
    (field("x", "text", 'required="true" required-when="paid"'), "both required=\"true\" and required-when"),
    (field("x", "integer", 'default="many"'), "default 'many' is not a valid integer value"),
    (field("x", "text", 'requird="true"'), "has unknown attribute 'requird'"),
    (field("x", "text", children='<pf:opt value="a"/>'), "unknown element pf:opt in pf:field 'x'"),
    ('<pf:feild name="x"/>', "unknown element pf:feild in pf:form"),
    (field("x", "text") + f'<pf:rule field="x" {MESSAGES}/>', "pf:rule on 'x' has no expr"),
    (field("x", "text") + f'<pf:rule expr="x" {MESSAGES}/>', "pf:rule #1 has no field"),
    (field("x", "text") + '<pf:rule field="x" expr="x" message-zh="甲"/>', "has no message-en"),
    (f'<pf:rule field="y" expr="y" {MESSAGES}/>', "names field 'y', which the form does not declare"),
    (field("a", "user") + '<pf:distinct fields="a b"/>', "names field 'b', which the form does not declare"),
    (field("a", "user") + field("b", "text") + '<pf:distinct fields="a b"/>', "which is not a user field"),
    (field("a", "user") + '<pf:distinct fields="a"/>', "must name at least two fields"),
    (field("x", "text") + "stray words", "contains text"),
])
def test_strict_parsing_reports_each_problem(body: str, expected: str) -> None:
    _, problems = parse(body)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_unknown_attribute_on_the_form_itself_is_reported() -> None:
    node = etree.fromstring(f'<pf:form xmlns:pf="{PF_NS}" layout="wide"/>')
    assert parse_form(node, "t") == (FormDef(), ["pf:form has unknown attribute 'layout'"])


def test_broken_form_still_returns_its_good_parts_for_expression_checks() -> None:
    form, problems = parse(field("bad", "strng") + field("ok", "text", 'required-when="flag"'))
    assert len(problems) == 1
    assert form is not None and [f.name for f in form.fields] == ["ok"]
    assert form.expressions() == [("pf:field 'ok' required-when", "flag")]


# ------------------------------------------------------------------------- storage, description

def test_form_round_trips_through_json() -> None:
    for form in (ONE_OF_EACH, REPAIR, HAZARD_APPROVE, RETURN_UNUSED, OPEN_UNIT, FormDef()):
        stored = json.loads(json.dumps(form.to_dict()))
        assert stored == form.to_dict()
        assert FormDef.from_dict(stored) == form


def test_a_form_validates_alike_through_its_schema_and_as_a_bare_form() -> None:
    for submitted in ({"result": "done", "fixed": "no", "bogus": 1}, {}, {"result": "x" * 20_000},
                      {"fixed": True, "charge_amount": "-1"}):
        case = {"paid": True}
        assert check(FormSchema(REPAIR), submitted, case) == check(REPAIR, submitted, case)


@pytest.mark.parametrize(("locale", "label", "option", "help_text"), [
    ("zh", "trade中", "电工", "选工种"),
    ("en", "trade en", "Electrical", "Pick a trade"),
    ("zh_Hans_CN", "trade中", "电工", "选工种"),
])
def test_describe_form_speaks_the_requested_language(locale: str, label: str, option: str,
                                                     help_text: str) -> None:
    helps = 'required="true" help-zh="选工种" help-en="Pick a trade"'
    form = form_of(field("trade", "choice", helps, TRADES))
    [described] = describe_form(form, locale)
    assert described == {
        "name": "trade", "type": "choice", "label": label, "required": True, "required_when": None,
        "options": [{"value": "electrical", "label": option},
                    {"value": "plumbing", "label": "水工" if locale != "en" else "Plumbing"}],
        "min": None, "max": None, "max_length": None, "role": None, "help": help_text, "default": None,
    }


def test_describe_form_shows_limits_roles_and_falls_back_to_the_other_help() -> None:
    form = form_of(field("qty", "integer", 'min="1" max="quantity" help-en="Whole units"')
                   + field("who", "user", 'role="technician"') + field("note", "text"))
    qty, who, note = describe_form(form, "zh")
    assert (qty["min"], qty["max"], qty["help"]) == (1, "quantity", "Whole units")
    assert who["role"] == "technician"
    assert note["max_length"] == 500
    with pytest.raises(ValueError):
        describe_form(form, "fr")


@pytest.mark.parametrize(("value", "refused"), [
    ("0.0004", True), (1.2345, True), ("1e-7", True), ("0.001", False), (2.5, False), ("12", False)])
def test_a_number_finer_than_its_decimals_is_refused_at_the_form(value: object, refused: bool) -> None:
    form = form_of(field("qty", "number", 'decimals="3"'))
    clean, errors = check(form, {"qty": value})
    assert codes(errors) == ({"qty": ["too_precise"]} if refused else {})
    assert ("qty" in clean) is not refused
    assert describe_form(form, "en")[0]["decimals"] == 3


@pytest.mark.parametrize(("extra", "words"), [
    ('type="text" decimals="2"', "decimals applies only to number fields"),
    ('type="number" decimals="many"', "decimals must be a whole number from 0 to 9"),
    ('type="number" decimals="12"', "decimals must be a whole number from 0 to 9"),
])
def test_a_bad_decimals_attribute_is_a_deploy_problem(extra: str, words: str) -> None:
    _, problems = parse(f'<pf:field name="q" {extra} {LABELS}/>')
    assert any(words in p for p in problems), problems


def test_cross_field_rules_and_type_errors_come_in_one_round() -> None:
    form = FormDef.from_dict({"fields": [
        {"name": "issued", "type": "integer", "label_zh": "发放", "label_en": "Issued", "required": True},
        {"name": "used", "type": "integer", "label_zh": "用量", "label_en": "Used", "required": True},
        {"name": "note", "type": "text", "label_zh": "说明", "label_en": "Note", "required_when": "used > 1"},
        {"name": "when", "type": "date", "label_zh": "日期", "label_en": "Date", "required": True}],
        "rules": [{"field": "used", "expr": "used <= issued", "message_zh": "用量不能超过发放数",
                   "message_en": "Used may not exceed issued"}]})
    _clean, errors = check(form, {"issued": 2, "used": 5, "when": "not a date"})
    # The bad date, the broken rule and the conditional requirement, all at once.
    assert set(errors) == {"when", "used", "note"}


def test_a_phone_field_refuses_letters_and_names_the_field() -> None:
    form = form_of('<pf:field name="contact_phone" type="phone" label-zh="联系电话" label-en="Phone"/>')
    _, errors = check(form, {"contact_phone": "abc"})
    assert codes(errors) == {"contact_phone": ["invalid_phone"]}
    for bad in ("12", "138-abc-0000", "1" * 21, "++86 138"):
        assert codes(check(form, {"contact_phone": bad})[1]) == {"contact_phone": ["invalid_phone"]}


def test_a_phone_field_keeps_the_ways_people_write_numbers() -> None:
    form = form_of('<pf:field name="contact_phone" type="phone" label-zh="联系电话" label-en="Phone"/>')
    for raw, stored in (("13800001111", "13800001111"), (" +86 138-0000-1111 ", "+86 138-0000-1111"),
                        ("(021) 6234 5678 转 801", "(021) 6234 5678 转 801"),
                        ("１３８００００１１１１", "13800001111"),
                        ("110", "110")):
        values, errors = check(form, {"contact_phone": raw})
        assert errors == {} and values["contact_phone"] == stored
    assert describe_form(form, "zh")[0]["type"] == "phone"
