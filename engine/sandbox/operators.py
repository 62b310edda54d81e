"""Guarded operators, f-strings and print: each checks the size of what it would build first."""

from __future__ import annotations

import math
import operator
import re
from typing import Any

from engine.sandbox.budget import ForbiddenOperation, Run, current, measure, to_text

_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "%": "mod", "**": "pow",
          "<<": "lshift", ">>": "rshift", "&": "and_", "|": "or_", "^": "xor", "@": "matmul"}
_BINARY = {op: getattr(operator, name) for op, name in _NAMES.items()}
_INPLACE = {op + "=": getattr(operator, "i" + name.rstrip("_")) for op, name in _NAMES.items()}
# One %-format directive; the groups are its width and precision.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?.", re.DOTALL)


def binop(op: str, left: Any, right: Any) -> Any:
    """Compute `left op right` once the result is known to stay within the limits."""
    run = current()
    _check_binop(run, op, left, right)
    result = _BINARY[op](left, right)
    if isinstance(result, (str, bytes)):
        run.size(len(result), "the string")
    return result


def inplacevar(op: str, left: Any, right: Any) -> Any:
    """Compute `left op= right` (RestrictedPython's `_inplacevar_`) within the limits."""
    _check_binop(current(), op[:-1], left, right)
    return _INPLACE[op](left, right)


def _check_binop(run: Run, op: str, left: Any, right: Any) -> None:
    """Fail before an operator would build an oversized string, sequence or integer."""
    if isinstance(left, int) and isinstance(right, int):
        _check_ints(run, op, left, right)
    elif op == "*":
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and times > 1 and seq:
            each = len(seq) if isinstance(seq, (str, bytes)) else measure(seq, run.limits.max_size // times)
            run.size(each * times, "the repeated sequence")
    elif op == "+" and isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        run.size(len(left) + len(right), "the joined sequence")  # a cheap lower bound first
        run.size(measure(left, run.limits.max_size) + measure(right, run.limits.max_size), "the sequence")
    elif op == "+" and isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
        run.size(len(left) + len(right), "the joined string")
    elif op == "%" and isinstance(left, (str, bytes)):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        widths = 0
        for number in (n for match in _PERCENT.finditer(text) for n in match.groups() if n):
            if number == "*":
                raise ForbiddenOperation("'*' widths in %-formatting are not allowed")
            widths += int(number) if len(number) < 8 else run.limits.max_size + 1
        run.size(len(text) + widths + measure(right, run.limits.max_size, text=True), "the formatted string")


def _check_ints(run: Run, op: str, left: int, right: int) -> None:
    """Estimate the bits of an integer result before computing it."""
    limit = run.limits.max_int_bits
    if max(left.bit_length(), right.bit_length()) > limit:
        run.fail(f"an integer operand has more than {limit:,} bits")
    bits: float = 0
    if op == "*":
        bits = left.bit_length() + right.bit_length()
    elif op == "**" and right > 0 and abs(left) > 1:
        bits = right if right > limit else right * math.log2(abs(left))
    elif op == "<<" and left:
        bits = left.bit_length() + right
    if bits > limit:
        run.fail(f"the integer result would have about {int(bits):,} bits; the limit is {limit:,}")


def format_value(value: Any, conversion: int, spec: str) -> str:
    """Format one f-string field, refusing huge widths, precisions and reprs."""
    run = current()
    if conversion != -1 or (not spec and type(value) is not str):
        value = to_text(run, value, {114: repr, 97: ascii}.get(conversion, str))
    for number in re.findall(r"\d+", spec):
        if len(number) > 7 or int(number) > run.limits.max_size:
            run.fail(f"the format width or precision {number[:12]} is too large")
    result = format(value, spec)
    run.size(len(result), "the formatted value")
    return result


def join_text(parts: tuple[str, ...]) -> str:
    """Concatenate the pieces of an f-string within the size limit."""
    current().size(sum(map(len, parts)), "the f-string")
    return "".join(parts)


class PrintCollector:
    """Collect what code prints (readable as `printed`) instead of writing to stdout."""

    def __init__(self, _getattr_: Any = None) -> None:
        self.parts: list[str] = []
        self.length = 0

    def _call_print(self, *objects: Any, sep: str | None = " ", end: str | None = "\n") -> None:
        """Append the text of one print() call, within the size limit."""
        run = current()
        pieces = [to_text(run, o) for o in objects]
        sep, end = (" " if sep is None else sep), ("\n" if end is None else end)
        self.length += sum(map(len, pieces)) + len(sep) * len(pieces) + len(end)
        run.size(self.length, "the printed output")
        self.parts.append(sep.join(pieces) + end)

    def __call__(self) -> str:
        return "".join(self.parts)
