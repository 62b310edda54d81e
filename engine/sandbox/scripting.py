"""The sandbox in which every BPMN expression and script runs (BPMN files are untrusted input).

Gateway conditions, timer expressions, form rules and script tasks compile with RestrictedPython under
`SandboxPolicy`, which is stricter and rewrites code so resources are guarded (`engine.sandbox_guards`):
- no imports, classes, `with`, `yield`, `open`/`eval`/`getattr`/`globals`/…, no names or attributes
  starting with `_`, no `.mro`/`.format`; builtins are a curated list in which `str`, `list`, `dict`,
  `range`, `sorted`, `sum`, … are size-checked stand-ins (isinstance still works);
- steps and time: each loop iteration (`for`, comprehensions, `while`) and each call of a def or lambda
  ticks the run's budget (`Limits.max_steps`, `max_seconds` of thread CPU time); every guard checks the
  clock too, so C code calling back in a loop (`map(str, …)`, sort keys) is stopped as well; within a
  unit of work all runs also share a `UnitBudget` (steps, CPU time, task data written: `max_data`);
- size: operators, f-strings, str/repr/print, displays and comprehensions, `.join/.replace/.ljust`…,
  `.append/.extend/.update`… and item stores check what they would build (`max_size`, `max_int_bits`)
  counting shared references each time (`x = [x, x]` cannot double forever and then be hashed);
  stores into existing containers also count against a run total (`max_total`);
- a broken limit raises `LimitExceeded` (a BaseException) and stays broken: compiled code re-raises it
  first thing in every `except`/`finally` block, so a script cannot swallow it.
Budgets are compiled-in calls, not `sys.settrace`: CPython drops a thread's tracer once it raises (a
script catching the first limit error would run unwatched) and a tracer displaces coverage tools and
debuggers. Counters are per run, in a thread-local.

After a script, task data may only hold JSON-like values (see ALLOWED_DATA, at most 100 levels deep);
injected functions never leak into it and helpers the script defines with `def` are dropped.

Known holes, honestly:
- One C-level operation cannot be interrupted. Sizes are bounded, so each takes at most ~0.1-1 s
  (sorting a million strings, comparing long strings) and a run can overshoot max_seconds by that.
  Integer keys crafted to share a hash (multiples of 2**61-1) make set/dict building quadratic: bulk
  builds are chunked with clock checks, but one union or `{**a, **b}` of two such sets is one call.
- Limits count elements and characters, not bytes: a run may hold a few hundred MB at worst. This is no
  process boundary: run workers under a memory rlimit/cgroup.
- Injected functions run unrestricted and must validate their own arguments.
- A failing script may have mutated task-data lists/dicts in place: the caller's transaction (the
  savepoint in engine.spiff.stepping) must roll back. Expressions cannot mutate data.
"""

from __future__ import annotations

import ast
import functools
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import CodeType, FunctionType, ModuleType
from typing import Any

from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer

from engine.errors import EngineError
from engine.sandbox.budget import UnitBudget, measure
from engine.sandbox.guards import (
    GUARDS,
    SAFE_BUILTINS,
    ForbiddenOperation,
    LimitExceeded,
    Limits,
    Run,
    running,
)

FILENAME = "<process code>"  # marks sandbox frames in tracebacks
MAX_SOURCE, MAX_DEPTH = 100_000, 100  # characters of one expression or script; nesting of task data
KINDS = {"compile": "does not compile", "forbidden": "does something not allowed",
         "limit": "was stopped", "runtime": "failed"}


class ScriptError(Exception):
    """A process expression or script was refused or failed: what, where (line) and why."""

    def __init__(self, message: str, *, kind: str, line: int | None = None,
                 source_line: str | None = None, what: str = "script") -> None:
        # kind: "compile" | "runtime" | "limit" | "forbidden"; line: 1-based line in the source
        self.message, self.kind, self.line = message, kind, line
        self.source_line, self.what = source_line, what
        super().__init__(message)

    def __str__(self) -> str:
        # Compile problems already start with "line N:"; don't say it twice.
        where = f" on line {self.line}" if self.line and not self.message.startswith("line ") else ""
        code = f" (`{self.source_line}`)" if where and self.source_line else ""
        return f"The {self.what} {KINDS.get(self.kind, 'failed')}{where}{code}: {self.message}"


# --- compile-time policy --------------------------------------------------------------------------

FORBIDDEN_NAMES = frozenset({
    "breakpoint", "bytearray", "classmethod", "compile", "delattr", "dir", "eval", "exec", "exit",
    "getattr", "globals", "hasattr", "locals", "memoryview", "open", "quit", "setattr", "staticmethod",
    "super", "vars"})
# These double as plausible form-field names, so only calling them is refused.
FORBIDDEN_CALLS = frozenset({"help", "id", "input", "iter", "object", "property", "type"})


def _call(name: str, args: list[Any], like: ast.AST) -> ast.Call:
    """Build `name(*args)` located at like."""
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    return ast.fix_missing_locations(ast.copy_location(node, like))


def _prepend(node: Any, name: str, body: str = "body") -> Any:
    """Insert the statement `name()` at the top of node's body (or other statement list)."""
    statements = getattr(node, body)
    like = statements[0] if statements else node
    statements.insert(0, ast.fix_missing_locations(ast.copy_location(ast.Expr(_call(name, [], like)), like)))
    return node


# Constructs refused outright: imports, classes (metaclass tricks), `with` (__exit__ can swallow
# errors) and generators (frames that outlive a call).
REFUSED_NODES = {ast.Import: "import statements", ast.ImportFrom: "import statements",
                 ast.ClassDef: "class definitions", ast.With: "with statements",
                 ast.Yield: "generators (yield)", ast.YieldFrom: "generators (yield)"}
DISPLAYS = (ast.List, ast.Tuple, ast.Set, ast.Dict)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp)


class SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, tightened, rewriting code so loops, calls and allocations are guarded."""

    def visit(self, node: Any) -> Any:
        """Refuse REFUSED_NODES; size-check displays built from variables and comprehensions."""
        if type(node) in REFUSED_NODES:
            self.error(node, f"{REFUSED_NODES[type(node)]} are not allowed")
            return node
        if isinstance(node, ast.Set) and any(isinstance(e, ast.Starred) for e in node.elts):
            self.error(node, "unpacking (*) into a set display is not allowed; use set(...)")
        new = super().visit(node)
        if isinstance(node, COMPREHENSIONS):
            return _call("_new_", [new], node)
        if isinstance(node, DISPLAYS) and isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            parts = node.keys + node.values if isinstance(node, ast.Dict) else node.elts  # type: ignore[operator]
            if not all(part is None or isinstance(part, ast.Constant) for part in parts):
                return _call("_new_", [new], node)
        return new

    def visit_Name(self, node: Any) -> Any:
        if node.id in FORBIDDEN_NAMES:
            self.error(node, f"'{node.id}' is not allowed")
        return super().visit_Name(node)

    def visit_Call(self, node: Any) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self.error(node, f"'{node.func.id}' is not allowed")
        return super().visit_Call(node)

    def visit_While(self, node: Any) -> Any:  # a step per iteration
        return _prepend(super().visit_While(node), "_tick_")

    def visit_FunctionDef(self, node: Any) -> Any:  # a step per call: recursion needs no loop
        return _prepend(super().visit_FunctionDef(node), "_tick_")

    def visit_Lambda(self, node: Any) -> Any:
        node = super().visit_Lambda(node)
        node.body = _call("_tick_", [node.body], node.body)
        return node

    def visit_ExceptHandler(self, node: Any) -> Any:  # a broken limit cannot be caught
        return _prepend(super().visit_ExceptHandler(node), "_check_limit_")

    def visit_Try(self, node: Any) -> Any:
        node = super().visit_Try(node)
        return _prepend(node, "_check_limit_", "finalbody") if node.finalbody else node

    def visit_BinOp(self, node: Any) -> Any:
        node = super().visit_BinOp(node)
        op = IOPERATOR_TO_STR[type(node.op)][:-1]
        return _call("_binop_", [ast.Constant(op), node.left, node.right], node)

    def visit_FormattedValue(self, node: Any) -> Any:
        node = super().visit_FormattedValue(node)
        spec = node.format_spec or ast.Constant("")
        return _call("_format_", [node.value, ast.Constant(node.conversion), spec], node)

    def visit_JoinedStr(self, node: Any) -> Any:
        node = super().visit_JoinedStr(node)
        return _call("_join_", [ast.Tuple(node.values, ast.Load())], node)


@dataclass(frozen=True)
class Compiled:
    """A compiled expression or script and what the environment needs to know about it."""

    code: CodeType
    reads: frozenset[str]  # names the code loads
    defines: frozenset[str]  # names of its top-level defs: helpers, never task data


_RP_UNDERSCORE = re.compile(r'"([^"]+)" is an invalid \w+ name because it starts with "_".?')
_RP_DUPLICATES = {"Exec calls are not allowed.", "Eval calls are not allowed."}  # FORBIDDEN_NAMES says it


def _readable(errors: list[str]) -> tuple[str, ...]:
    """Turn RestrictedPython's 'Line N: …' messages into 'line N: …' sentences, without duplicates."""
    out: list[str] = []
    for text in errors:
        where, _, message = text.partition(": ") if text.startswith("Line ") else ("Line None", "", text)
        message = _RP_UNDERSCORE.sub(lambda m: f"names starting with '_' are not allowed ('{m.group(1)}')",
                                     message)
        item = message if where == "Line None" else f"line {where[5:]}: {message}"
        if message not in _RP_DUPLICATES and item not in out:
            out.append(item)
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _compile(source: str, mode: str) -> Compiled | tuple[str, ...]:
    """Compile once per distinct source; return the problems instead when it is refused."""
    if len(source) > MAX_SOURCE:
        return (f"line 1: the code is longer than {MAX_SOURCE:,} characters",)
    errors: list[str] = []
    reads: dict[str, bool] = {}
    try:
        tree: Any = ast.parse(source, FILENAME, mode)
        body = tree.body if isinstance(tree, ast.Module) else []
        defines = frozenset(node.name for node in body if isinstance(node, ast.FunctionDef))
        SandboxPolicy(errors, [], reads).visit(tree)
        if errors:
            return _readable(errors)
        code = compile(tree, FILENAME, mode, dont_inherit=True)
    except SyntaxError as exc:
        return (f"line {exc.lineno or 1}: syntax error: {exc.msg}",)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return (f"line 1: the code cannot be compiled ({type(exc).__name__})",)
    return Compiled(code, frozenset(reads), defines)


def _normalise(source: str, mode: str) -> str:
    """Strip an expression; dedent a script (BPMN editors indent it), keeping line numbers."""
    return source.strip() if mode == "eval" else textwrap.dedent(source)


def check_expression(source: str) -> list[str]:
    """Return the problems that keep source from running as an expression (empty: fine)."""
    result = _compile(_normalise(source, "eval"), "eval")
    return [] if isinstance(result, Compiled) else list(result)


def check_script(source: str) -> list[str]:
    """Return the problems that keep source from running as a script (empty: fine)."""
    result = _compile(_normalise(source, "exec"), "exec")
    return [] if isinstance(result, Compiled) else list(result)


def names_read(source: str, *, script: bool = False) -> frozenset[str]:
    """Return the names an expression or script loads, e.g. the functions it calls (none if refused)."""
    mode = "exec" if script else "eval"
    result = _compile(_normalise(source, mode), mode)
    return result.reads if isinstance(result, Compiled) else frozenset()


# --- task data ------------------------------------------------------------------------------------

_SCALARS = frozenset({type(None), bool, int, float, str, Decimal, date, datetime})
ALLOWED_DATA = ("None, booleans, numbers, strings, Decimals, dates, datetimes and lists, tuples "
                "and dicts with string keys of them")


def data_problem(value: Any, limit: int) -> str | None:
    """Say why value cannot be stored as task data, or return None when it can."""
    stack, seen = [(value, 0)], 0
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        seen += len(item) if kind is str else 1
        if seen > limit:
            return f"is larger than {limit:,} elements"
        if kind in _SCALARS:  # exact types: a subclass could carry behaviour
            continue
        if depth >= MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep"
        if kind is list or kind is tuple:
            stack.extend((element, depth + 1) for element in item)
        elif kind is dict:
            for key, element in item.items():
                if type(key) is not str:
                    return f"has a dict key of type {type(key).__name__}; keys must be strings"
                stack.append((element, depth + 1))
        else:
            return "holds a " + ("class" if isinstance(item, type) else "module" if kind is ModuleType
                                 else "function" if callable(item) else f"value of type {kind.__name__}")
    return None


# --- the environment ------------------------------------------------------------------------------


def _line_of(source: str, line: int | None) -> str | None:
    """Return the stripped source line, if there is one."""
    lines = source.splitlines()
    return lines[line - 1].strip() if line and 0 < line <= len(lines) else None


def _failure(exc: BaseException, run: Run, source: str, what: str) -> ScriptError:
    """Describe what stopped a run, with the innermost line of the process code."""
    line, trace = None, exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == FILENAME:
            line = trace.tb_lineno
        trace = trace.tb_next
    if run.broken is not None:  # whatever a handler raised afterwards, the limit stopped it
        kind, message = "limit", run.broken
    elif isinstance(exc, RecursionError | MemoryError):
        kind, message = "limit", "it recursed too deeply" if isinstance(exc, RecursionError) else "no memory"
    elif isinstance(exc, ForbiddenOperation):
        kind, message = "forbidden", str(exc)
    else:
        kind, message = "runtime", f"{type(exc).__name__}: {exc}"
    message = message if len(message) <= 500 else message[:500] + "…"  # raise ValueError('x' * 10**6)
    return ScriptError(message, kind=kind, line=line, source_line=_line_of(source, line), what=what)


# Shaped like Spiff's script environments (evaluate/execute on a data dict): engine.spiff.script_engine
# hands it to Spiff, which also calls it directly for a few expressions of its own.
class SandboxEnvironment:
    """Evaluate expressions and execute scripts in the sandbox, on task data."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None,
                 limits: Limits | None = None, unit: UnitBudget | None = None) -> None:
        self.functions = dict(functions or {})
        self.limits = limits or Limits()
        self.unit = unit  # shared by every run of one unit of work (engine.context)

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        """Return the value of expression over context; the expression cannot change context."""
        return self._run(expression, "eval", context, external_context)[0]

    def execute(self, script: str, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        """Run script over context and write its variables back into context (task data)."""
        _, compiled, namespace, functions = self._run(script, "exec", context, external_context)
        updates: dict[str, Any] = {}
        for name, value in namespace.items():
            if name.startswith("_") or (name in functions and value is functions[name]):
                continue  # guards, builtins and injected functions are not data
            if name in compiled.defines and isinstance(value, FunctionType) \
                    and value.__code__.co_filename == FILENAME:
                continue  # a helper the script defined
            problem = data_problem(value, self.limits.max_total)
            if problem:
                raise ScriptError(f"variable '{name}' {problem}; task data may only hold {ALLOWED_DATA}",
                                  kind="runtime")
            updates[name] = value
        self._charge_written(context, updates)
        for name in [name for name in context if name not in namespace]:
            del context[name]  # the script deleted it
        context.update(updates)
        return True

    def _charge_written(self, context: Mapping[str, Any], updates: Mapping[str, Any]) -> None:
        """Refuse a script whose new or changed variables bring the unit's written data past max_data."""
        spent = self.unit.data if self.unit is not None else 0
        # A shared reference counts each time, as the stored JSON repeats it: 200 names for 1 MB is 200 MB.
        written = sum(measure(value, self.limits.max_data) for name, value in updates.items()
                      if name not in context or value is not context[name])
        if spent + written > self.limits.max_data:
            raise ScriptError(f"it would write {spent + written:,} or more elements and characters of task "
                              f"data in one unit of work; the limit is {self.limits.max_data:,}",
                              kind="limit")
        if self.unit is not None:
            self.unit.data += written

    def _run(self, source: Any, mode: str, context: Mapping[str, Any],
             external_context: Mapping[str, Any] | None) -> tuple[Any, Compiled, dict[str, Any], Any]:
        """Compile source and run it on context under a fresh budget; return what it made."""
        what = "expression" if mode == "eval" else "script"
        if not isinstance(source, str):
            raise ScriptError(f"expected text, got {type(source).__name__}", kind="compile", what=what)
        source = _normalise(source, mode)
        compiled = _compile(source, mode)
        if not isinstance(compiled, Compiled):
            syntax = any("syntax error" in p or "cannot be compiled" in p for p in compiled)
            match = re.match(r"line (\d+):", compiled[0])
            line = int(match.group(1)) if match else None
            raise ScriptError("; ".join(compiled), kind="compile" if syntax else "forbidden", line=line,
                              source_line=_line_of(source, line), what=what)
        functions = {**self.functions, **(external_context or {})}
        for name in sorted(compiled.reads):
            if name in context and callable(functions.get(name)):
                raise ScriptError(f"'{name}' is both a task data variable and a function of the engine; "
                                  "rename the variable", kind="runtime", what=what)
        namespace = {**functions, **context, **GUARDS, "__builtins__": SAFE_BUILTINS}
        run = Run(self.limits, read_only=mode == "eval", unit=self.unit)
        try:
            with running(run):
                return eval(compiled.code, namespace), compiled, namespace, functions
        except (ScriptError, EngineError):
            raise  # a nested sandbox run or an injected function's domain error says it better
        except (LimitExceeded, Exception) as exc:
            raise _failure(exc, run, source, what) from exc
