"""Write the hostile BPMN corpus next to this file: `python tests/data/hostile/make_corpus.py`.

Each file is one attack or one mistake; tests/reliability/test_hostile_bpmn.py holds what the engine
must do with it. The files are committed; this script documents how each was made and rebuilds them.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
PF = "https://propertyflow.dev/schema/bpmn/1"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def user_task(eid: str = "review", form: str = "<pf:form/>", extra: str = "", name: str = "審核") -> str:
    """Return a well-formed user task with titles and a form."""
    return (f'<bpmn:userTask id="{eid}" name="{name}"><bpmn:extensionElements>'
            f'<pf:label lang="en">Review</pf:label>{extra}{form}</bpmn:extensionElements></bpmn:userTask>')


def doc(body: str, *, key: str = "hostile", lanes: str | None = None, process_ext: str = "",
        process_attrs: str = 'isExecutable="true"', name: str = "惡意流程", before: str = "",
        after: str = "") -> str:
    """Return a definitions document with one process around `body`."""
    refs = "".join(f"<bpmn:flowNodeRef>{eid}</bpmn:flowNodeRef>"
                   for eid in re.findall(r'<bpmn:userTask id="([^"]+)"', body))
    lane_xml = lanes if lanes is not None else (
        f'<bpmn:laneSet id="lanes"><bpmn:lane id="lane_cs" name="客服助理 cs_assistant">{refs}'
        "</bpmn:lane></bpmn:laneSet>")
    return (f'{HEAD}{before}<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:pf="{PF}" id="defs" '
            f'targetNamespace="https://example.org/hostile">'
            f'<bpmn:process id="{key}" name="{escape(name)}" {process_attrs}>'
            f'<bpmn:extensionElements><pf:label lang="en">Hostile</pf:label>{process_ext}'
            f"</bpmn:extensionElements>{lane_xml}{body}</bpmn:process>{after}</bpmn:definitions>\n")


def linear(middle: str, first: str = "s1", *, start: str = '<bpmn:startEvent id="start"/>') -> str:
    """Return start → (middle element with id `first`) → review → end, all flows present."""
    return (f"{start}{middle}{user_task()}<bpmn:endEvent id=\"end\"/>"
            f'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{first}"/>'
            f'<bpmn:sequenceFlow id="f2" sourceRef="{first}" targetRef="review"/>'
            '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>')


def script(source: str, eid: str = "s1") -> str:
    """Return a script task with the given Python source."""
    return (f'<bpmn:scriptTask id="{eid}" name="腳本" scriptFormat="python">'
            f"<bpmn:script>{escape(source)}</bpmn:script></bpmn:scriptTask>")


REGISTER = script("registered = True")


def with_script(source: str) -> str:
    """Return a process whose first step is a script task."""
    return doc(linear(script(source)))


def with_condition(condition: str) -> str:
    """Return a process whose gateway condition is `condition` (default flow to the end)."""
    body = ('<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw" default="f_default"/>'
            f'{user_task()}<bpmn:endEvent id="end"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>'
            '<bpmn:sequenceFlow id="f_cond" sourceRef="gw" targetRef="review">'
            f"<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression></bpmn:sequenceFlow>"
            '<bpmn:sequenceFlow id="f_default" sourceRef="gw" targetRef="end"/>'
            '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>')
    return doc(body)


def with_conditions(conditions: list[str]) -> str:
    """Return a process whose gateway has one conditional flow per condition (default flow to the end)."""
    flows = "".join(f'<bpmn:sequenceFlow id="f_cond{i}" sourceRef="gw" targetRef="review">'
                    f"<bpmn:conditionExpression>{escape(c)}</bpmn:conditionExpression></bpmn:sequenceFlow>"
                    for i, c in enumerate(conditions))
    body = ('<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw" default="f_default"/>'
            f'{user_task()}<bpmn:endEvent id="end"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>' + flows
            + '<bpmn:sequenceFlow id="f_default" sourceRef="gw" targetRef="end"/>'
            '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>')
    return doc(body)


def with_timer(kind: str, text: str | None) -> str:
    """Return a process whose user task has a boundary timer of the given kind and text."""
    inner = f"<bpmn:{kind}>{escape(text)}</bpmn:{kind}>" if text is not None else ""
    body = (linear(REGISTER)
            + '<bpmn:boundaryEvent id="deadline" attachedToRef="review" cancelActivity="false">'
            f"<bpmn:timerEventDefinition>{inner}</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
            '<bpmn:endEvent id="late_end"/>'
            '<bpmn:sequenceFlow id="f4" sourceRef="deadline" targetRef="late_end"/>')
    return doc(body)


def with_user_ext(extra: str = "", form: str = "<pf:form/>") -> str:
    """Return a process whose user task carries extra pf: elements or another form."""
    body = ('<bpmn:startEvent id="start"/>' + user_task(extra=extra, form=form) + '<bpmn:endEvent id="end"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>')
    return doc(body)


def field(attrs: str, inner: str = "") -> str:
    """Return a form holding one field."""
    return f"<pf:form><pf:field {attrs}>{inner}</pf:field></pf:form>"


GOOD = doc(linear(REGISTER))
LABELS = 'label-zh="x" label-en="x"'
NESTED = "".join(f"<pf:n{i}>" for i in range(300)) + "".join(f"</pf:n{i}>" for i in reversed(range(300)))
LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                    for i in range(1, 10)) + "]>\n")

CORPUS: dict[str, str | bytes] = {
    # --- not a BPMN document at all
    "not_xml.bpmn": "This is a repair request, not a diagram.\n",
    "empty.bpmn": "",
    "binary_garbage.bpmn": bytes(range(256)) * 4,
    "truncated.bpmn": GOOD[: len(GOOD) // 2],
    "wrong_encoding.bpmn": GOOD.replace("惡意流程", "caf\xe9").encode("latin-1", errors="replace"),
    "html_root.bpmn": HEAD + "<html><body><script>alert(1)</script></body></html>\n",
    "wrong_namespace.bpmn": GOOD.replace(BPMN, "http://example.org/not-bpmn"),
    "oversized.bpmn": GOOD.replace("</bpmn:process>", "<bpmn:documentation>" + "拖" * 800_000
                                   + "</bpmn:documentation></bpmn:process>"),
    "deeply_nested.bpmn": GOOD.replace("<pf:label lang=\"en\">Hostile</pf:label>",
                                       f"<pf:label lang=\"en\">Hostile</pf:label>{NESTED}"),
    # --- entity tricks
    "doctype.bpmn": GOOD.replace(HEAD, HEAD + '<!DOCTYPE definitions SYSTEM "bpmn.dtd">\n'),
    "external_entity.bpmn": GOOD.replace(HEAD, HEAD + '<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
                                .replace('name="惡意流程"', 'name="&xxe;"'),
    "billion_laughs.bpmn": GOOD.replace(HEAD, HEAD + LAUGHS).replace('name="惡意流程"', 'name="&lol9;"'),
    "parameter_entity.bpmn": GOOD.replace(
        HEAD, HEAD + '<!DOCTYPE d [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'),
    # --- structure
    "schema_invalid_element.bpmn": doc(linear('<bpmn:teleportTask id="s1"/>')),
    "no_process.bpmn": f'{HEAD}<bpmn:definitions xmlns:bpmn="{BPMN}" id="d" targetNamespace="x"/>\n',
    "no_start_event.bpmn": doc(user_task() + '<bpmn:endEvent id="end"/>'
                               '<bpmn:sequenceFlow id="f1" sourceRef="review" targetRef="end"/>'),
    "two_executable_processes.bpmn": doc(linear(REGISTER),
                                         after='<bpmn:process id="second" isExecutable="true"/>'),
    "non_executable_only.bpmn": doc(linear(REGISTER), process_attrs='isExecutable="false"',
                                    after='<bpmn:process id="other" isExecutable="false"/>'),
    "bad_process_key.bpmn": doc(linear(REGISTER), key="repair-dispatch.v2"),
    "duplicate_ids.bpmn": doc(linear('<bpmn:task id="review" name="x"/>', first="review")),
    "flow_to_missing_node.bpmn": doc(linear(REGISTER).replace(
        'id="f3" sourceRef="review" targetRef="end"', 'id="f3" sourceRef="review" targetRef="ghost"')),
    "flow_from_missing_node.bpmn": doc(linear(REGISTER)
                                       + '<bpmn:sequenceFlow id="f9" sourceRef="phantom" targetRef="end"/>'),
    "boundary_on_missing_task.bpmn": doc(linear(REGISTER)
                                         + '<bpmn:boundaryEvent id="b" attachedToRef="nowhere">'
                                         "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>"
                                         "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"),
    "call_missing_process.bpmn": doc(linear(
        '<bpmn:callActivity id="s1" name="x" calledElement="elsewhere"/>')),
    "service_task_operation.bpmn": doc(
        linear('<bpmn:serviceTask id="s1" name="x" operationRef="op"/>'),
        after='<bpmn:interface id="i" name="i"><bpmn:operation id="op" name="o">'
              "<bpmn:inMessageRef>m</bpmn:inMessageRef></bpmn:operation></bpmn:interface>"
              '<bpmn:message id="m"/>'),
    "xss_in_element_id.bpmn": doc(linear(REGISTER)).replace(
        'id="review"', 'id="&lt;script&gt;alert(1)&lt;/script&gt;"'),
    # --- roles, lanes, forms, pf: extensions
    "unknown_lane_role.bpmn": doc(linear(REGISTER)).replace(
        "客服助理 cs_assistant", "門衛 janitor"),
    "unknown_starter_role.bpmn": doc(linear(REGISTER),
                                     process_ext='<pf:starters roles="cs_assistant hacker"/>'),
    "user_task_in_no_lane.bpmn": doc(linear(REGISTER), lanes=""),
    "missing_form.bpmn": with_user_ext(form=""),
    "plain_task_in_no_lane.bpmn": doc(linear('<bpmn:task id="s1" name="登記"/>')),
    "missing_english_title.bpmn": doc(linear(REGISTER)).replace(
        '<pf:label lang="en">Review</pf:label>', ""),
    "unknown_pf_element.bpmn": with_user_ext(extra="<pf:runAs>root</pf:runAs>"),
    "unknown_separation_rule.bpmn": with_user_ext(extra="<pf:separation><pf:anyoneButMe/></pf:separation>"),
    "bad_field_type.bpmn": with_user_ext(form=field(f'name="pw" type="password" {LABELS}')),
    "bad_field_name.bpmn": with_user_ext(form=field(f'name="__class__" type="text" {LABELS}')),
    "reserved_field_name.bpmn": with_user_ext(form=field(f'name="performed_by" type="text" {LABELS}')),
    "field_event_handler_attribute.bpmn": with_user_ext(form=field(
        'name="note" type="text" label-zh="x" label-en="x" onfocus="alert(1)"')),
    "choice_without_options.bpmn": with_user_ext(form=field(f'name="c" type="choice" {LABELS}')),
    "field_role_unknown.bpmn": with_user_ext(form=field(f'name="who" type="user" role="root" {LABELS}')),
    "bad_outcome.bpmn": doc(linear(REGISTER)).replace(
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"><bpmn:extensionElements>'
        "<pf:outcome>exploded</pf:outcome></bpmn:extensionElements></bpmn:endEvent>"),
    # --- code that must not compile in the sandbox
    "script_import.bpmn": with_script("import os\nos.system('id')"),
    "script_from_import.bpmn": with_script("from subprocess import run\nrun(['id'])"),
    "script_dunder_import.bpmn": with_script("m = __import__('os')"),
    "script_open_file.bpmn": with_script("secret = open('/etc/passwd').read()"),
    "script_dunder_escape.bpmn": with_script("k = ().__class__.__bases__[0].__subclasses__()"),
    "script_getattr_escape.bpmn": with_script("g = getattr(now, '__glo' + 'bals__')"),
    "script_eval.bpmn": with_script("x = eval('1 + 1')"),
    "script_exec_compile.bpmn": with_script("exec(compile('import os', 'x', 'exec'))"),
    "script_globals.bpmn": with_script("env = globals()"),
    "script_class_definition.bpmn": with_script("class Evil:\n    pass"),
    "script_syntax_error.bpmn": with_script("if True print('x')"),
    "script_cdata_import.bpmn": with_script("import os").replace(
        "<bpmn:script>import os</bpmn:script>", "<bpmn:script><![CDATA[import os]]></bpmn:script>"),
    "condition_dunder.bpmn": with_condition("now.__globals__ is not None"),
    "condition_import.bpmn": with_condition("__import__('os').system('id') == 0"),
    "condition_statement.bpmn": with_condition("x = 1"),
    "condition_empty.bpmn": with_condition(""),
    "assignee_escape.bpmn": with_user_ext(extra="<pf:assignee>initiator.__class__</pf:assignee>"),
    "form_rule_open.bpmn": with_user_ext(
        form=f'<pf:form><pf:field name="n" type="text" {LABELS}/>'
             '<pf:rule field="n" expr="open(n)" message-zh="x" message-en="x"/></pf:form>'),
    # --- timers
    "timer_bad_duration.bpmn": with_timer("timeDuration", "PT15X"),
    "timer_syntax_error.bpmn": with_timer("timeDate", "working_hours(("),
    "timer_forbidden_code.bpmn": with_timer("timeDate", "__import__('os').getcwd()"),
    "timer_without_definition.bpmn": with_timer("timeDate", None),
    "timer_date_out_of_range.bpmn": with_timer("timeDate", "0001-01-01T00:00:00+14:00"),
    "timer_cycle_forever.bpmn": with_timer("timeCycle", "R/PT1S"),
    "timer_cycle_garbage.bpmn": with_timer("timeCycle", "R/garbage"),
    "timer_cycle_too_often.bpmn": with_timer("timeCycle", "R5/PT1S"),
    "timer_fractional_years.bpmn": with_timer("timeDuration", "P0.5Y"),
    "timer_negative_duration.bpmn": with_timer("timeDuration", "-PT1H"),
    "timer_duration_beyond_horizon.bpmn": with_timer("timeDuration", "P99999999Y"),
    "timer_date_beyond_horizon.bpmn": with_timer("timeDate", "9999-12-31T00:00:00Z"),
    "timer_cycle_beyond_horizon.bpmn": with_timer("timeCycle", "R2/P99999999Y"),
    # --- gateways
    "gateway_no_way_out.bpmn": doc(
        '<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw"/>' + user_task()
        + user_task("review2") + '<bpmn:endEvent id="end"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="review"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="review2"/>'
        '<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="end"/>'
        '<bpmn:sequenceFlow id="f5" sourceRef="review2" targetRef="end"/>'),
    # --- only running can tell: the instance must stop with a clear error, alone
    "run_script_while_true.bpmn": with_script("n = 0\nwhile True:\n    n = n + 1"),
    "run_script_recursion.bpmn": with_script("def f(n):\n    return f(n + 1)\nx = f(0)"),
    "run_script_huge_string.bpmn": with_script("x = 'a' * (10 ** 10)"),
    "run_script_huge_list.bpmn": with_script("x = [0] * (10 ** 9)"),
    "run_script_doubling_list.bpmn": with_script("x = [1]\nfor i in range(100):\n    x = x + x"),
    "run_script_huge_integer.bpmn": with_script("x = 7 ** (10 ** 8)"),
    "run_script_deep_data.bpmn": with_script("x = []\nfor i in range(500):\n    x = [x]"),
    "run_script_format_escape.bpmn": with_script("x = '{0.__class__}'.format(1)"),
    "run_script_raises.bpmn": with_script("x = 1 / 0"),
    "run_condition_huge_allocation.bpmn": with_condition("len('x' * (10 ** 10)) > 0"),
    "run_condition_endless_sum.bpmn": with_condition("sum(range(10 ** 12)) > 0"),
    # each condition stays under its own limits; together they must not hold the write lock for long
    "run_conditions_exhaust_the_unit_budget.bpmn": with_conditions(
        ["len([i for i in range(99000)]) < 0"] * 40),
    # 200 names for one 1 MB string: stored as JSON that is 200 MB, though the script holds 1 MB
    "run_script_many_large_variables.bpmn": with_script(
        "big = 'x' * 1000000\n" + "".join(f"v{i} = big\n" for i in range(200))),
    "run_timer_not_a_date.bpmn": with_timer("timeDate", "'next tuesday-ish'"),
    "run_timer_date_out_of_range.bpmn": with_timer("timeDate", "'0001-01-01T00:00:00' + '+14:00'"),
    "run_timer_duration_beyond_horizon.bpmn": with_timer("timeDuration", "('P' + '99999999Y')"),
    "run_timer_date_beyond_horizon.bpmn": with_timer("timeDate", "'9999-12-31T00:00:00' + 'Z'"),
    "run_assignee_nobody.bpmn": with_user_ext(extra="<pf:assignee>'nobody_at_all'</pf:assignee>"),
    "run_role_unknown.bpmn": with_user_ext(extra="<pf:role>'janitor'</pf:role>"),
    "run_gateway_dead_end.bpmn": doc(
        '<bpmn:startEvent id="start"/><bpmn:exclusiveGateway id="gw"/>' + user_task() + user_task("review2")
        + '<bpmn:endEvent id="end"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="gw" targetRef="review">'
        "<bpmn:conditionExpression>1 == 2</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="review2">'
        "<bpmn:conditionExpression>2 == 3</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="end"/>'
        '<bpmn:sequenceFlow id="f5" sourceRef="review2" targetRef="end"/>'),
    "run_endless_loop_of_steps.bpmn": doc(
        '<bpmn:startEvent id="start"/>' + script("n = 0", "init") + script("n = n + 1", "inc")
        + '<bpmn:exclusiveGateway id="gw" default="back"/>' + user_task() + '<bpmn:endEvent id="end"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="inc"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="inc" targetRef="gw"/>'
        '<bpmn:sequenceFlow id="back" sourceRef="gw" targetRef="inc"/>'
        '<bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="review">'
        "<bpmn:conditionExpression>n &lt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="f5" sourceRef="review" targetRef="end"/>'),
    # --- accepted: markup in a title is inert text, stored as written and escaped wherever shown
    # a gateway with thousands of flows must deploy as fast as a few (each flow end found by id once)
    "ok_gateway_with_thousands_of_flows.bpmn": with_conditions(
        [f"initiator == 'nobody{i}'" for i in range(3000)]).replace('id="hostile"', 'id="many_flows"'),
    "ok_markup_in_titles.bpmn": doc(
        linear(REGISTER.replace('name="腳本"', 'name="&lt;img src=x onerror=alert(1)&gt;"')),
        key="markup_titles", name="<script>alert('流程')</script>"),
}


def main() -> None:
    """Rewrite every corpus file."""
    for old in HERE.glob("*.bpmn"):
        old.unlink()
    for name, content in CORPUS.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (HERE / name).write_bytes(data)
    print(f"{len(CORPUS)} files written to {HERE}")


if __name__ == "__main__":
    main()
