"""Behaviour of the sandbox every BPMN expression and script runs in."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.errors import Conflict
from engine.sandbox import scripting
from engine.sandbox.scripting import (
    Limits,
    SandboxEnvironment,
    ScriptError,
    check_expression,
    check_script,
)
from engine.spiff.script_engine import SandboxScriptEngine


def run_script(source: str, data: dict[str, Any] | None = None, **env: Any) -> dict[str, Any]:
    """Execute source on a copy of data in a fresh sandbox and return the resulting task data."""
    context = dict(data or {})
    SandboxEnvironment(**env).execute(source, context)
    return context


def failure(source: str, data: dict[str, Any] | None = None, *, expression: bool = False,
            **env: Any) -> ScriptError:
    """Run source expecting a ScriptError and return it."""
    sandbox = SandboxEnvironment(**env)
    with pytest.raises(ScriptError) as caught:
        if expression:
            sandbox.evaluate(source, dict(data or {}))
        else:
            sandbox.execute(source, dict(data or {}))
    return caught.value


# --- ordinary code --------------------------------------------------------------------------------


def test_script_updates_task_data_in_place() -> None:
    context = {"items": [{"qty": 2, "price": 5.5}, {"qty": 1, "price": 10}], "note": "keep"}
    SandboxEnvironment().execute(
        "total = 0\n"
        "for item in items:\n"
        "    total += item['qty'] * item['price']\n"
        "names = sorted({str(i['qty']) for i in items})\n"
        "label = f'{len(items)} items: {total:.2f}'\n"
        "summary = {'total': total, 'count': len(items), 'tags': ('a', 'b')}\n",
        context)
    assert context["total"] == 21.0
    assert context["names"] == ["1", "2"]
    assert context["label"] == "2 items: 21.00"
    assert context["summary"] == {"total": 21.0, "count": 2, "tags": ("a", "b")}
    assert context["note"] == "keep"


def test_gateway_expression_reads_task_data() -> None:
    sandbox = SandboxEnvironment()
    data = {"amount": 120, "kind": "repair", "rooms": ["101", "102"]}
    assert sandbox.evaluate("amount > 100 and kind == 'repair'", data) is True
    assert sandbox.evaluate("\n   any(r.startswith('10') for r in rooms)\n", data) is True
    assert sandbox.evaluate("len([r for r in rooms if r != '101'])", data) == 1


def test_indented_script_from_a_bpmn_editor_runs() -> None:
    assert run_script("\n    a = 1\n    b = a + 1\n") == {"a": 1, "b": 2}


def test_script_can_delete_a_variable() -> None:
    assert run_script("del draft\nfinal = 1", {"draft": "x"}) == {"final": 1}


def test_exceptions_can_be_caught_inside_a_script() -> None:
    assert run_script("try:\n    x = 1 / 0\nexcept ZeroDivisionError:\n    x = -1") == {"x": -1}


def test_data_named_like_a_builtin_can_be_read() -> None:
    data = {"type": "leak", "property": "A1", "input": 3, "id": 7}
    assert SandboxEnvironment().evaluate("type == 'leak' and property == 'A1' and input + id == 10", data)


def test_guarded_builtin_types_still_work_with_isinstance() -> None:
    result = run_script("a = isinstance('x', str) and isinstance([], (list, tuple))\n"
                        "b = isinstance(True, int) and not isinstance({}, list)\n"
                        "c = str.upper('ab') + str(12) + repr('q')\n"
                        "d = dict(zip(['k'], [1])), list(range(3)), set([1, 1]) == {1}, int('42')")
    assert result == {"a": True, "b": True, "c": "AB12'q'", "d": ({"k": 1}, [0, 1, 2], True, 42)}


def test_decimals_and_dates_are_allowed_in_task_data() -> None:
    data = {"price": Decimal("9.90"), "due": date(2026, 1, 2), "at": datetime(2026, 1, 2, 8, 0)}
    result = run_script("total = price * 3\nday = due.isoformat()\nhour = at.hour", data)
    assert result["total"] == Decimal("29.70")
    assert (result["day"], result["hour"]) == ("2026-01-02", 8)


def test_print_is_collected_not_written_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_script("print('hello', 42)\nout = printed") == {"out": "hello 42\n"}
    assert capsys.readouterr().out == ""


# --- injected functions ---------------------------------------------------------------------------


def test_injected_function_is_callable_and_not_leaked() -> None:
    calls: list[tuple[str, int]] = []

    def ledger_issue(item: str, qty: int) -> float:
        calls.append((item, qty))
        return 7.0

    functions: dict[str, Callable[..., Any]] = {"ledger_issue": ledger_issue,
                                                "now": lambda: "2026-11-23T10:00:00+08:00"}
    result = run_script("balance = ledger_issue('valve', 2)\nstamp = now()", functions=functions)
    assert result == {"balance": 7.0, "stamp": "2026-11-23T10:00:00+08:00"}
    assert calls == [("valve", 2)]
    assert SandboxEnvironment(functions=functions).evaluate("now()[:4]", {}) == "2026"


def test_external_context_rebinds_a_function_for_one_call() -> None:
    sandbox = SandboxEnvironment(functions={"working_hours": lambda n: f"default {n}"})
    rebound = {"working_hours": lambda n: f"rebound {n}"}
    assert sandbox.evaluate("working_hours(24)", {}, rebound) == "rebound 24"
    assert sandbox.evaluate("working_hours(24)", {}) == "default 24"


def test_task_data_shadowing_a_called_function_is_reported() -> None:
    error = failure("x = hours(2)", {"hours": 3}, functions={"hours": lambda n: n})
    assert error.kind == "runtime"
    assert "'hours' is both a task data variable and a function" in str(error)


def test_task_data_named_like_an_unused_function_is_kept() -> None:
    assert run_script("y = hours + 1", {"hours": 3}, functions={"now": lambda: 0}) == {"hours": 3, "y": 4}


def test_error_raised_by_an_injected_function_reports_the_script_line() -> None:
    def ledger_issue(item: str, qty: int) -> float:
        raise ValueError(f"insufficient stock of {item}")

    error = failure("a = 1\nb = ledger_issue('valve', 5)", functions={"ledger_issue": ledger_issue})
    assert (error.kind, error.line) == ("runtime", 2)
    assert "insufficient stock of valve" in str(error)


def test_engine_error_from_an_injected_function_passes_through() -> None:
    def archive() -> bool:
        raise Conflict("already archived")

    with pytest.raises(Conflict):
        SandboxEnvironment(functions={"archive": archive}).execute("archive()", {})


# --- what may be stored ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "f = lambda: 1",
    "f = now",
    "g = (x for x in [1, 2])",
    "s = {1, 2}",
    "r = range(3)",
    "box = {'fn': now}",
    "m = str",
])
def test_function_objects_cannot_be_stored_in_task_data(source: str) -> None:
    error = failure(source, functions={"now": lambda: 0})
    name = source.split(" =")[0]
    assert error.kind == "runtime"
    assert f"variable '{name}'" in str(error)
    assert "task data may only hold" in str(error)


def test_helper_functions_defined_with_def_are_not_stored() -> None:
    assert run_script("def double(n):\n    return n * 2\nresult = double(4)") == {"result": 8}


def test_task_data_keys_must_be_strings() -> None:
    assert "keys must be strings" in str(failure("d = {1: 'a'}"))


def test_task_data_nesting_is_limited() -> None:
    error = failure("x = []\nfor i in range(150):\n    x = [x]")
    assert "nested more than 100 levels" in str(error)


def test_failed_script_leaves_task_data_variables_unassigned() -> None:
    context = {"a": 1}
    with pytest.raises(ScriptError):
        SandboxEnvironment().execute("a = 2\nb = 1 / 0", context)
    assert context == {"a": 1}


def test_expression_cannot_change_task_data() -> None:
    data = {"items": [1], "meta": {"k": 1}}
    for expression in ("items.append(2)", "meta.update({'k': 2})", "items.clear() or True"):
        error = failure(expression, data, expression=True)
        assert error.kind == "forbidden"
    assert data == {"items": [1], "meta": {"k": 1}}


# --- errors ---------------------------------------------------------------------------------------


def test_runtime_error_reports_line_number() -> None:
    error = failure("a = 1\nb = 0\nc = a / b\n")
    assert (error.kind, error.line, error.source_line) == ("runtime", 3, "c = a / b")
    assert "ZeroDivisionError" in error.message


def test_script_error_reads_as_a_sentence() -> None:
    error = failure("total = price * qty", {"price": 2})
    assert str(error) == ("The script failed on line 1 (`total = price * qty`): "
                          "NameError: name 'qty' is not defined")


def test_compile_error_raises_script_error_with_its_line() -> None:
    error = failure("a = 1\nb = (\n")
    assert error.kind == "compile"
    assert error.line == 2
    assert str(error).startswith("The script does not compile: line 2: syntax error")


def test_forbidden_code_is_refused_before_it_runs() -> None:
    error = failure("import os\nos.system('true')")
    assert (error.kind, error.line) == ("forbidden", 1)
    assert "import statements are not allowed" in str(error)


# --- static checks --------------------------------------------------------------------------------


def test_import_statement_is_refused_at_check_time() -> None:
    assert check_script("x = 1\nimport os") == ["line 2: import statements are not allowed"]
    assert check_script("from os import path") == ["line 1: import statements are not allowed"]


def test_open_and_other_dangerous_builtins_are_refused_at_check_time() -> None:
    assert check_expression("open('/etc/passwd').read()") == ["line 1: 'open' is not allowed"]
    for name in ("eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr"):
        assert check_script(f"x = {name}") == [f"line 1: '{name}' is not allowed"]
    assert check_script("x = type(1)") == ["line 1: 'type' is not allowed"]


def test_names_starting_with_underscore_are_refused_at_check_time() -> None:
    problems = check_script("x = ''.__class__\n_y = 1")
    assert problems == ["line 1: names starting with '_' are not allowed ('__class__')",
                        "line 2: names starting with '_' are not allowed ('_y')"]


def test_checks_accept_ordinary_code() -> None:
    assert check_expression("amount > 100 and kind in ('repair', 'leak')") == []
    assert check_script("total = sum(i['qty'] for i in items)\nok = total > 0") == []


def test_checks_do_not_run_the_code() -> None:
    assert check_script("while True:\n    pass") == []
    assert check_expression("10 ** 10 ** 100") == []


def test_checks_report_syntax_errors() -> None:
    assert check_expression("amount >") == ["line 1: syntax error: invalid syntax"]


def test_compiled_code_is_cached() -> None:
    sandbox = SandboxEnvironment()
    sandbox.evaluate("amount * 2 + 12345", {"amount": 1})
    before = scripting._compile.cache_info().hits  # noqa: SLF001 - the cache is the behaviour under test
    assert sandbox.evaluate("amount * 2 + 12345", {"amount": 2}) == 12349
    assert scripting._compile.cache_info().hits == before + 1  # noqa: SLF001


# --- hostile code ---------------------------------------------------------------------------------

HOSTILE = [
    ("infinite while loop", "while True:\n    pass", "limit"),
    ("loop over a growing list", "xs = [0]\nfor x in xs:\n    xs.append(x)", "limit"),
    ("deep recursion", "def f(n):\n    return f(n + 1)\nf(0)", "limit"),
    ("exponential recursion", "def f(n):\n    return 1 if n == 0 else f(n - 1) + f(n - 1)\nx = f(60)",
     "limit"),
    ("recursive lambda", "f = lambda n: f(n + 1)\nf(0)", "limit"),
    ("huge string multiplication", "s = 'a' * 10**10", "limit"),
    ("huge list multiplication", "xs = [0] * 10**9", "limit"),
    ("huge power", "n = 10 ** 10**8", "limit"),
    ("huge shift", "n = 1 << 10**10", "limit"),
    ("list of a huge range", "xs = list(range(10**10))", "limit"),
    ("sum of a huge range", "n = sum(range(10**12))", "limit"),
    ("huge comprehension", "d = {i: i for i in range(10**7)}", "limit"),
    ("long comprehension", "xs = [i for i in range(999_999)]", "limit"),
    ("string doubling", "s = 'x'\nwhile True:\n    s = s + s", "limit"),
    ("in-place list doubling", "xs = [1]\nwhile True:\n    xs += xs", "limit"),
    ("nested dict bomb", "d = {}\nwhile True:\n    d = {'a': d, 'b': d}", "limit"),
    ("hashed tuple bomb", "t = ()\nfor i in range(100):\n    t = (t, t)\nh = {t: 1}", "limit"),
    ("appending big strings", "xs = []\nwhile True:\n    xs.append('x' * 999_999)", "limit"),
    ("storing big strings", "d = {}\nfor i in range(100):\n    d[i] = 'x' * 999_999", "limit"),
    ("f-string width", "s = f'{1:>10000000000}'", "limit"),
    ("%-format width", "s = '%10000000000d' % 1", "limit"),
    ("join of big strings", "s = ','.join(['x' * 100_000] * 10)", "limit"),
    ("padding", "s = 'x'.center(10**10)", "limit"),
    ("replace blow-up", "s = ('x' * 1000).replace('x', 'y' * 10_000)", "limit"),
    ("repr of big integers", "xs = [10**3000] * 1000\ns = str(xs)", "limit"),
    ("print flood", "while True:\n    print('x' * 100_000)", "limit"),
    ("C code calling guards in a loop", "s = ''.join(map(str, range(999_999)))", "limit"),
    ("colliding hash keys", "m = 2**61 - 1\nkeys = [i * m for i in range(90_000)]\ns = set(keys)", "limit"),
    ("swallowed limit retried", "while True:\n    try:\n        while True:\n            pass\n"
                                "    except:\n        pass", "limit"),
    ("loop in finally", "try:\n    while True:\n        pass\nfinally:\n    while True:\n        pass",
     "limit"),
    ("round to a huge power", "x = round(5, -10**9)", "runtime"),
    ("modular power (pow is not provided)", "x = pow(3, 10**4000, 10**4000)", "runtime"),
    ("import", "import os", "forbidden"),
    ("subclasses walk", "x = ().__class__.__bases__[0].__subclasses__()", "forbidden"),
    ("mro escape", "x = str.mro()[-1]", "forbidden"),
    ("format escape", "x = '{0.__class__}'.format(1)", "forbidden"),
    ("open a file", "f = open('/etc/passwd')", "forbidden"),
    ("eval", "x = eval('1')", "forbidden"),
    ("getattr on a dunder", "x = getattr(1, '__class__')", "forbidden"),
    ("globals", "x = globals()", "forbidden"),
    ("type()", "x = type(1)", "forbidden"),
    ("class definition", "class A:\n    pass", "forbidden"),
    ("generator frame", "g = (x for x in [1])\nf = g.gi_frame", "forbidden"),
    ("builtins module", "x = __builtins__", "forbidden"),
    ("with statement", "with x:\n    pass", "forbidden"),
    ("int to huge bytes", "b = (1).to_bytes(10**10, 'big')", "forbidden"),
    ("method taken from a type", "f = list.append", "forbidden"),
]


@pytest.mark.parametrize(("source", "kind"), [(s, k) for _, s, k in HOSTILE],
                         ids=[name for name, _, _ in HOSTILE])
def test_hostile_snippet_is_stopped(source: str, kind: str) -> None:
    started = time.perf_counter()
    error = failure(source)
    print(f"{time.perf_counter() - started:.3f}s {error}")
    assert error.kind == kind


def test_infinite_loop_stops_within_limit() -> None:
    error = failure("n = 0\nwhile True:\n    n += 1")
    assert error.kind == "limit"
    assert "100,000 loop iterations" in error.message
    assert error.line == 3


def test_slow_loop_stops_at_the_time_limit() -> None:
    error = failure("while True:\n    x = sorted(range(100_000))", limits=Limits(max_seconds=0.2))
    assert "longer than 0.2 s" in error.message


def test_huge_string_multiplication_is_refused() -> None:
    error = failure("s = 'a' * 10**10")
    assert error.kind == "limit"
    assert "10,000,000,000" in error.message


def test_limit_error_cannot_be_swallowed_by_except() -> None:
    error = failure("try:\n    while True:\n        pass\nexcept BaseException:\n    pass\nok = 1")
    assert error.kind == "limit"


def test_dunder_attribute_escape_is_refused() -> None:
    for source in ("x.__class__", "x.__dict__", "getattr(x, '__class__')", "x.mro()"):
        error = failure(source, {"x": "s"}, expression=True)
        assert error.kind == "forbidden", source


def test_huge_decimal_from_task_data_cannot_become_an_integer() -> None:
    data = {"d": Decimal("1e999999")}
    for source in ("n = int(d)", "n = round(d)", "s = '%d' % d"):
        assert failure(source, data).kind == "limit", source
    assert failure("r = d.as_integer_ratio()", data).kind == "forbidden"


def test_limits_are_configurable() -> None:
    small = Limits(max_steps=10)
    assert run_script("for i in range(5):\n    pass", limits=small) == {"i": 4}
    assert failure("for i in range(20):\n    pass", limits=small).kind == "limit"
    assert failure("s = 'x' * 20", limits=Limits(max_size=10)).kind == "limit"


def test_concurrent_runs_have_independent_budgets() -> None:
    errors: list[ScriptError] = []

    def hostile() -> None:
        errors.append(failure("while True:\n    pass", limits=Limits(max_steps=10**9, max_seconds=0.5)))

    thread = threading.Thread(target=hostile)
    thread.start()
    for _ in range(50):
        assert run_script("t = 0\nfor i in range(1000):\n    t += i") == {"t": 499500, "i": 999}
    thread.join()
    assert errors[0].kind == "limit"


def test_code_taken_out_of_a_run_cannot_run_outside_it() -> None:
    escaped = SandboxEnvironment().evaluate("lambda: 1", {})
    with pytest.raises(scripting.ForbiddenOperation):
        escaped()


def test_sandbox_leaves_the_thread_tracer_alone() -> None:
    def tracer(frame: Any, event: str, arg: Any) -> None:
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        assert failure("while True:\n    pass").kind == "limit"
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


# --- through SpiffWorkflow ------------------------------------------------------------------------

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.com/t">
  <bpmn:process id="pricing" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="Compute total" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="decide">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>big</bpmn:outgoing><bpmn:outgoing>small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_big"><bpmn:incoming>big</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_small"><bpmn:incoming>small</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="decide"/>
    <bpmn:sequenceFlow id="big" sourceRef="decide" targetRef="end_big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="decide" targetRef="end_small">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">total &lt;= 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""


def workflow(script: str, condition: str = "total &gt; 100") -> BpmnWorkflow:
    """Parse the pricing process with the given script and condition, on a sandboxed engine."""
    parser = BpmnParser()
    parser.add_bpmn_str(PROCESS.format(script=script, condition=condition).encode(), "pricing.bpmn")
    environment = SandboxEnvironment(functions={"unit_price": lambda item: {"valve": 45}[item]})
    return BpmnWorkflow(parser.get_spec("pricing"), script_engine=SandboxScriptEngine(environment))


def test_gateway_condition_runs_in_sandbox_through_spiffworkflow() -> None:
    wf = workflow("qty = 3\nprice = unit_price('valve')\ntotal = qty * price")
    wf.do_engine_steps()
    assert wf.is_completed()
    done = {t.task_spec.name: t for t in wf.get_tasks(state=TaskState.COMPLETED)}
    assert "end_big" in done and "end_small" not in done
    assert done["end_big"].data == {"qty": 3, "price": 45, "total": 135}


def test_script_failure_names_the_task_and_line_through_spiffworkflow() -> None:
    wf = workflow("qty = 3\ntotal = qty / 0")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert caught.value.task_spec.name == "compute"
    assert (caught.value.line_number, caught.value.error_line) == (2, "total = qty / 0")
    assert isinstance(caught.value.exception, ScriptError)
    assert caught.value.exception.kind == "runtime"


def test_hostile_gateway_condition_is_stopped_through_spiffworkflow() -> None:
    wf = workflow("total = 1", condition="sum(range(10**12)) &gt; 0")
    with pytest.raises(WorkflowTaskException) as caught:
        wf.do_engine_steps()
    assert caught.value.task_spec.name == "decide"
    assert caught.value.exception.kind == "limit"
